"""README's examples run as written: the set-up commands, the walk-through and the Python."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer

# Real subprocesses: CI runs these; the default developer run skips them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def env() -> dict[str, str]:
    # The interpreter running the tests has railgraph installed; put its scripts first on PATH.
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}


def run_script(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a README shell block as a user would, stopping at the first failing command."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_readme_starts_with_the_two_setup_commands_and_ci_runs_the_second() -> None:
    setup = blocks("bash")[0].strip().splitlines()
    assert setup == [
        "./scripts/setup && . .venv/bin/activate && railgraph run railgraph.graphs.refund:graph "
        """--input '{"ticket_id":"T-1001"}'""",
        "./scripts/setup && ./scripts/check",
    ]
    assert setup[1] in (ROOT / ".ci" / "run").read_text()


def test_the_first_commands_run_completes_the_small_refund(tmp_path: Path) -> None:
    command = blocks("bash")[0].strip().splitlines()[0].split(" && ")[-1]
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert ": completed" in done.stdout


def test_the_approval_walkthrough_runs(tmp_path: Path) -> None:
    done = run_script(blocks("bash")[1], tmp_path)
    assert "action:    create_refund (irreversible, policy conditional)" in done.stdout
    assert done.stdout.count(": completed") == 2  # approve's outcome and show's header
    assert "approve_refund: approved by alice" in done.stdout


def test_the_review_queue_walkthrough_runs(tmp_path: Path) -> None:
    done = run_script(blocks("bash")[2], tmp_path)
    gates = re.findall(r"^request \w+  run \w+ \(incident\), gate (\w+)", done.stdout, re.M)
    # both requests in the queue, then the rollback left waiting after the notice's rejection
    assert gates == ["approve_rollback", "approve_status_page", "approve_rollback"]
    assert list((tmp_path / "reviews").glob("*.svg"))
    assert "rollback -> check_recovery -> verify_recovery -> resolve" in done.stdout
    assert ": completed" in done.stdout


def test_the_postgresql_commands_run(tmp_path: Path, postgres_server: PostgresServer) -> None:
    [block] = [b for b in blocks("sh") if "railgraph[postgres]" in b]
    install, *commands = block.strip().splitlines()
    assert install == "pip install 'railgraph[postgres]'"  # the development install has it
    url = postgres_server.create_database()
    name = url.split("/")[-1].split("?")[0]
    script = "\n".join(commands)
    # The README's two example databases are this test's one, over TCP and over the socket.
    script = script.replace(
        "postgresql://railgraph:secret@db.internal:5432/railgraph",
        postgres_server.url(name, tcp=True),
    )
    script = script.replace(
        "postgres://railgraph@/railgraph?host=/run/postgresql",
        "postgres://postgres@/" + name + f"?host={postgres_server.socket_dir}"
        f"&port={postgres_server.port}",
    )
    done = run_script(script, tmp_path)
    out = done.stdout.splitlines()
    run_id = out[0].split()[1].rstrip(":")
    assert out[0] == f"run {run_id}: completed"
    # three listings of the one run: by $RAILGRAPH_DB, by the global --db, by the command's
    assert sum(1 for line in out if line.strip().startswith(run_id)) == 3
    assert not (tmp_path / ".railgraph" / "railgraph.db").exists()  # nothing went to SQLite


def test_the_diagram_commands_write_their_files(tmp_path: Path) -> None:
    run_script(blocks("bash")[4], tmp_path)
    assert (tmp_path / "refund.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "traffic.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    diff = (tmp_path / "diff.mmd").read_text()
    assert diff.startswith(
        '---\ntitle: "refund — refund-spec.json → railgraph.graphs.refund:graph"'
    )
    assert "    %% no structural change\n" in diff  # compared with itself: nothing marked
    assert json.loads((tmp_path / "refund-spec.json").read_text())["name"] == "refund"


def test_the_benchmark_command_prints_its_table(tmp_path: Path) -> None:
    [command] = blocks("bash")[3].strip().splitlines()
    assert command.split("#")[0].strip() == "python bench/checkpointer.py"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "checkpointer.py"), "--quick"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for row in ("(a) µs per node", "(b) bytes on disk", "(c) ms aget_tuple", "(d) ms alist"):
        assert row in done.stdout
    assert done.stdout.count("PASS") + done.stdout.count("FAIL") == 5


def test_the_rails_benchmark_command_prints_every_target(tmp_path: Path) -> None:
    [command] = [b for b in blocks("sh") if "bench/rails.py" in b]
    assert command.split("#")[0].strip() == "python bench/rails.py"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rails.py"), "--quick"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 18  # every target of the speed issue (the step graph twice), a row each
    assert all(row.rstrip(" |").endswith(("met", "MISSED")) for row in rows)
    assert "Durability and safety hold for these numbers" in done.stdout


def test_the_overhead_benchmark_prints_each_part_of_the_rails(tmp_path: Path) -> None:
    [command] = [b for b in blocks("sh") if "bench/overhead.py" in b]
    assert command.split("#")[0].strip() == "python bench/overhead.py"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "overhead.py"), "--quick"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    cells = [[cell.strip() for cell in row.strip(" |").split("|")] for row in rows]
    variants = [
        "all rails",
        "without the kill switch",
        "without events",
        "without the usage write",
        "without all three",
    ]
    assert [(graph, rails) for graph, rails, _, _ in cells] == [
        (graph, variant) for graph in ("llm", "tool_read") for variant in variants
    ]
    assert all(re.fullmatch(r"\d+\.\d\dx", ratio) for _, _, ratio, _ in cells)
    assert all(re.fullmatch(r"-?[\d,]+", micros) for _, _, _, micros in cells)


def test_every_python_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    examples, outputs = blocks("python"), blocks("text")
    assert len(examples) == len(outputs) == 3
    for code, expected in zip(examples, outputs, strict=True):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected


def test_the_review_page_commands_run(tmp_path: Path) -> None:
    [block] = [b for b in blocks("bash") if "railgraph serve &" in b]
    # The block leaves the server running in the background; stop it (by its job's id) after.
    script = f"trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{block}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**env(), "ALICE_PASSWORD": "alice's long password", "ROOT_PASSWORD": "r00t-r00t"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "added reviewer alice\nadded admin root\n" in done.stdout
    [request] = json.loads(done.stdout.split("added admin root\n", 1)[1])
    assert (request["action"], request["node"], request["risk"]) == (
        "create_refund",
        "approve_refund",
        "irreversible",
    )
    assert (tmp_path / "alice.token").read_text().strip()
    # the pictures the browser test takes (tests/railgraph/web/test_browser.py)
    pictures = re.findall(r"\]\((docs/screenshots/\w+\.png)\)", README)
    assert pictures == ["docs/screenshots/queue.png", "docs/screenshots/run.png"]
    assert all((ROOT / p).read_bytes().startswith(b"\x89PNG") for p in pictures)


def block_starting(language: str, marker: str) -> str:
    """The README block of ``language`` whose first line starts with ``marker``."""
    [found] = [b for b in blocks(language) if b.startswith(marker)]
    return found


def test_the_console_trace_example_prints_the_runs_spans(tmp_path: Path) -> None:
    done = run_script(block_starting("bash", "# traces on the terminal"), tmp_path)
    assert done.stdout == "4\n"
    spans = (tmp_path / "spans.json").read_text()
    assert spans.count('"name": "invoke_workflow refund"') == 1
    assert spans.count('"name": "chat scripted-support-model"') == 1


def test_the_profile_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    run_script(block_starting("bash", "# profile:"), tmp_path)
    written = (tmp_path / "refund-profile.md").read_text().splitlines()
    shown = block_starting("markdown", "## 2. Tools").splitlines()
    # Every line the README shows is in the profile, in the same order ("…" stands for the
    # rows whose times vary from run to run).
    remaining = iter(written)
    missing = [
        line for line in shown if line != "| … | … |" and not any(w == line for w in remaining)
    ]
    assert missing == []


def test_the_check_example_passes_the_reference_graphs(tmp_path: Path) -> None:
    done = run_script(block_starting("bash", "# check:"), tmp_path)
    assert done.stdout == "graph refund (railgraph.graphs.refund:graph): 5 rules passed\n"
    checked = json.loads((tmp_path / "incident-checks.json").read_text())
    assert (checked["graph"], checked["violations"]) == ("incident", [])


def test_the_agent_walkthrough_runs_every_lane(tmp_path: Path) -> None:
    [block] = [b for b in blocks("bash") if "railgraph.graphs.support_agent:graph" in b]
    done = run_script(block, tmp_path)
    assert "action:    create_refund (irreversible, policy conditional)" in done.stdout
    assert "call:      call_3_0 (turn 3); rule: create_refund: amount > 100 (holds)" in done.stdout
    assert "We refunded $300.00 for ticket T-1002." in done.stdout
    assert re.search(r"create_refund\s+ok\s+edited\s+alice", done.stdout)
    assert re.search(r"delete_customer\s+blocked\s+blocked", done.stdout)
    assert "ended budget_exhausted: no third model call" in done.stdout
    assert (tmp_path / "agent-run.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
