"""The built distribution in a clean virtualenv, next to PyPI's ``verifiers`` package.

railgraph once installed its folders as top-level packages: installing PyPI's ``verifiers``
after it replaced railgraph's verifiers, and uninstalling it deleted railgraph's files. Now
the wheel holds ``railgraph`` alone. Building needs the package index (hatchling, in pip's
isolated build) and installing reads it or pip's cache; nothing else is fetched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from railgraph._settings import MOVED_PACKAGES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
OLD_REF = "graphs.refund:graph"  # rewrite-imports: keep (as older runs and scripts spell it)
REF = "railgraph.graphs.refund:graph"


def sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()}


def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(n for n in archive.namelist() if ".dist-info/" not in n)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A wheel built from the sdist (as `python -m build` does) and one built from the tree
    (as `pip install .` does)."""
    out = tmp_path_factory.mktemp("dist")
    sh(sys.executable, "-m", "build", "--outdir", out / "via-sdist", ROOT, cwd=out)
    sh(sys.executable, "-m", "build", "--wheel", "--outdir", out / "direct", ROOT, cwd=out)
    [via_sdist] = (out / "via-sdist").glob("*.whl")
    [direct] = (out / "direct").glob("*.whl")
    return via_sdist, direct


def test_the_wheel_holds_railgraph_alone_with_every_subpackage(wheels: tuple[Path, Path]) -> None:
    via_sdist, direct = wheels
    for wheel in wheels:
        assert top_level(wheel) == {"railgraph", "railgraph-0.1.0.dist-info"}
    files = wheel_files(direct)
    assert wheel_files(via_sdist) == files
    for name in MOVED_PACKAGES:
        assert f"railgraph/{name}/__init__.py" in files
        assert f"railgraph/{name}/py.typed" in files
    # Every module of the checkout, and nothing else.
    checkout = sorted(
        p.relative_to(ROOT).as_posix()
        for folder in ("railgraph", *MOVED_PACKAGES)
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
        and p.relative_to(ROOT / folder).parts[0] not in MOVED_PACKAGES
    )
    in_wheel = sorted(
        f.removeprefix("railgraph/") if f.split("/")[1] in MOVED_PACKAGES else f
        for f in files
        if f.endswith(".py")
    )
    assert in_wheel == checkout


def test_installed_next_to_pypis_verifiers_it_runs_and_survives_its_removal(
    wheels: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel = wheels[0]
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python, pip = venv / "bin" / "python", [venv / "bin" / "python", "-m", "pip", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["RAILGRAPH_DB"] = str(tmp_path / "rg.db")
    work = tmp_path / "work"  # no checkout here: imports resolve in the venv only
    work.mkdir()

    def run(ref: str, ticket: str) -> dict[str, object]:
        out = sh(
            venv / "bin" / "railgraph",
            "run",
            ref,
            "--input",
            json.dumps({"ticket_id": ticket}),
            "--json",
            cwd=work,
            env=env,
        )
        return dict(json.loads(out))

    def where(name: str) -> str:
        code = (
            "import importlib.util, sys; s = importlib.util.find_spec(sys.argv[1]); "
            "print(s.origin if s else None)"
        )
        return sh(python, "-c", code, name, cwd=work, env=env).strip()

    sh(*pip, "install", wheel, cwd=work, env=env)
    # PyPI's verifiers brings a large tree of its own (numpy, openai, ...); its files are what
    # collided with railgraph's, so its package alone is installed.
    sh(*pip, "install", "--no-deps", "verifiers", cwd=work, env=env)

    site = Path(
        sh(
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
            cwd=work,
            env=env,
        ).strip()
    )
    assert where("verifiers") == str(site / "verifiers" / "__init__.py")
    assert where("railgraph.verifiers") == str(site / "railgraph" / "verifiers" / "__init__.py")
    for name in MOVED_PACKAGES:
        if name != "verifiers":
            assert where(name) == "None"
    claimed = sh(
        python,
        "-c",
        "import importlib.metadata as m; "
        "print(sorted({f.parts[0] for f in m.files('railgraph') if f.parts[0] != '..'}))",
        cwd=work,
        env=env,
    )
    assert claimed.strip() == "['railgraph', 'railgraph-0.1.0.dist-info']"

    version = sh(venv / "bin" / "railgraph", "--version", cwd=work, env=env)
    assert version.strip() == "railgraph 0.1.0"
    assert run(REF, "T-1001")["status"] == "completed"
    assert run(OLD_REF, "T-1001")["status"] == "completed"

    sh(*pip, "uninstall", "-y", "verifiers", cwd=work, env=env)
    assert where("verifiers") == "None"
    assert where("railgraph.verifiers") == str(site / "railgraph" / "verifiers" / "__init__.py")
    assert run(REF, "T-1002")["status"] == "paused"

    # And the other way round: removing railgraph leaves PyPI's verifiers whole.
    sh(*pip, "install", "--no-deps", "verifiers", cwd=work, env=env)
    sh(*pip, "uninstall", "-y", "railgraph", cwd=work, env=env)
    assert where("verifiers") == str(site / "verifiers" / "__init__.py")
    assert where("railgraph") == "None"
