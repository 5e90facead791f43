"""railgraph claims one import name: the folders at the top of the repository are
``railgraph.nodes``, ``railgraph.graphs``, ... and nothing imports them by their bare names."""

from __future__ import annotations

import ast
import importlib.machinery
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import railgraph.graphs.refund
from railgraph import InputError, Runner, RunStatus
from railgraph._settings import MOVED_PACKAGES, canonical_ref, import_ref

ROOT = Path(__file__).resolve().parents[1]
OLD_REF = "graphs.refund:graph"  # rewrite-imports: keep (as older runs and scripts spell it)
REF = "railgraph.graphs.refund:graph"
SKIP = {".venv", ".git", "node_modules", "__pycache__", ".railgraph", "build", "dist"}


def repo_files(suffix: str) -> Iterator[Path]:
    """The repository's own files (symlinks not followed: each file once)."""
    for path in sorted(ROOT.rglob(f"*{suffix}")):
        parts = path.relative_to(ROOT).parts
        if SKIP.intersection(parts) or parts[0].startswith(".venv"):
            continue
        if any((ROOT / Path(*parts[:i])).is_symlink() for i in range(1, len(parts) + 1)):
            continue
        yield path


BARE_LINE = re.compile(
    rf"^\s*(?:>>>\s+)?(?:from|import)\s+(?:{'|'.join(MOVED_PACKAGES)})\b.*$", re.M
)


def bare_imports(path: Path) -> list[str]:
    """Imports of the bare names: statements, and lines of code in strings (docstrings'
    examples, graphs that tests write to files)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {m.group(0).strip()}"
                for m in BARE_LINE.finditer(node.value)
            ]
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
            for name in names
            if name.partition(".")[0] in MOVED_PACKAGES
        ]
    return found


def test_the_folders_are_railgraph_subpackages_through_committed_symlinks() -> None:
    for name in MOVED_PACKAGES:
        link = ROOT / "railgraph" / name
        assert link.is_symlink(), f"railgraph/{name} must be a symlink to ../{name}"
        assert str(link.readlink()) == f"../{name}"
        assert (ROOT / name / "__init__.py").is_file()


def test_no_code_imports_the_folders_by_their_bare_names() -> None:
    # `import nodes` would load the same files a second time as another module (two
    # ToolRegistry classes, two vocabularies) and fails once railgraph is installed.
    found = [hit for path in repo_files(".py") for hit in bare_imports(path)]
    assert found == [], "import these as railgraph.<name>:\n" + "\n".join(found)


def test_docs_show_imports_under_railgraph() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in repo_files(".md")
        for match in BARE_LINE.finditer(path.read_text())
    ]
    assert found == []


def test_the_installed_railgraph_exposes_no_other_top_level_name() -> None:
    # The development install is editable: its .pth names .editable/, which holds railgraph
    # alone. (tests/test_packaging_wheel.py checks the built wheel.)
    outside = [p for p in sys.path if p not in ("", ".", str(ROOT))]
    found = {n: importlib.machinery.PathFinder.find_spec(n, outside) for n in MOVED_PACKAGES}
    assert {n: spec.origin for n, spec in found.items() if spec is not None} == {}
    railgraph_spec = importlib.machinery.PathFinder.find_spec("railgraph", outside)
    assert railgraph_spec is not None
    assert railgraph_spec.origin is not None
    assert Path(railgraph_spec.origin).resolve() == ROOT / "railgraph" / "__init__.py"
    assert sorted(p.name for p in (ROOT / ".editable").iterdir()) == ["railgraph"]


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep sys.path and any bare ``graphs`` modules a test imports to the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in [m for m in sys.modules if m.partition(".")[0] in MOVED_PACKAGES]:
        del sys.modules[name]


def bare_modules() -> list[str]:
    return sorted(m for m in sys.modules if m.partition(".")[0] in MOVED_PACKAGES)


@pytest.mark.usefixtures("clean_imports")
def test_an_older_reference_names_railgraphs_own_graph(tmp_path: Path) -> None:
    assert canonical_ref(OLD_REF) == REF
    old_tools = "nodes._tools:ToolRegistry"  # rewrite-imports: keep
    assert canonical_ref(old_tools) == "railgraph.nodes._tools:ToolRegistry"
    assert import_ref(OLD_REF) is railgraph.graphs.refund.graph
    # A folder of pictures called graphs/ is not a package that takes the name.
    (tmp_path / "graphs").mkdir()
    assert import_ref(OLD_REF) is railgraph.graphs.refund.graph
    assert bare_modules() == []


@pytest.mark.usefixtures("clean_imports")
def test_from_a_checkout_an_older_reference_does_not_load_the_folder_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)  # ./graphs is importable as a top-level package here
    assert canonical_ref(OLD_REF) == REF
    assert import_ref(OLD_REF) is railgraph.graphs.refund.graph
    assert bare_modules() == []


@pytest.mark.usefixtures("clean_imports")
def test_a_projects_own_package_of_that_name_keeps_its_reference(tmp_path: Path) -> None:
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "__init__.py").write_text("")
    (tmp_path / "graphs" / "mine.py").write_text("graph = 'the project graph'\n")
    mine = "graphs.mine:graph"  # rewrite-imports: keep
    assert canonical_ref(mine) == mine
    assert import_ref(mine) == "the project graph"
    assert bare_modules() == ["graphs", "graphs.mine"]
    assert canonical_ref(REF) == REF
    assert canonical_ref("payouts:graph") == "payouts:graph"


def test_a_malformed_or_missing_older_reference_names_what_was_typed() -> None:
    with pytest.raises(InputError, match="must look like module:attribute"):
        import_ref("graphs.refund")  # rewrite-imports: keep
    with pytest.raises(
        InputError,
        match=re.escape(
            "cannot import module 'railgraph.graphs.nope' of graph reference "
            "'graphs.nope:graph'"  # rewrite-imports: keep
        ),
    ):
        import_ref("graphs.nope:graph")  # rewrite-imports: keep


@pytest.mark.usefixtures("clean_imports")
async def test_a_run_stored_under_an_older_reference_is_decided_and_ends(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rg.db"
    async with Runner.open(db) as runner:
        paused = await runner.start(OLD_REF, {"ticket_id": "T-1002"})
    assert paused.status == RunStatus.PAUSED
    with sqlite3.connect(db) as conn:
        # Stored as the graph is imported, however it was spelt.
        assert conn.execute("SELECT graph FROM runs").fetchall() == [(REF,)]
        # As a database written before the packages moved under railgraph holds it.
        conn.execute("UPDATE runs SET graph = ?", (OLD_REF,))
    async with Runner.open(db) as runner:
        done = await runner.approve(paused.run_id, by="alice")
    assert done.status == RunStatus.COMPLETED
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status, graph FROM runs").fetchall() == [("completed", OLD_REF)]


def test_authors_import_everything_from_railgraph() -> None:
    import railgraph.nodes
    import railgraph.verifiers

    for name in railgraph.__all__:
        assert getattr(railgraph, name) is not None, name
    assert railgraph.ToolRegistry is railgraph.nodes.ToolRegistry
    assert railgraph.BudgetEnvelope is railgraph.nodes.BudgetEnvelope
    assert railgraph.InRange is railgraph.verifiers.InRange
    assert railgraph.Verifier is railgraph.verifiers.Verifier
    with pytest.raises(AttributeError, match="module 'railgraph' has no attribute 'Runtime'"):
        railgraph.Runtime  # noqa: B018  (runtime machinery stays in railgraph.nodes)
