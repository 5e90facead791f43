"""README's examples run as written: the set-up commands, the walk-through and the Python."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from railgraph._work_queue import QUEUE_ENV
from railgraph.checkpointers import RunRecord, open_store
from railgraph.graphs._helpdesk import Helpdesk
from tests.postgres_server import PostgresServer
from tests.railgraph.test_worker_processes import WAIT_S, Cluster, ended, settled

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


Check = Callable[[dict[str, RunRecord]], bool]
"""A test on every stored run, as `Cluster.wait_for` waits for one."""


def test_the_worker_commands_run(tmp_path: Path, postgres_server: PostgresServer) -> None:
    [block] = [b for b in blocks("sh") if "railgraph[worker]" in b]
    install, export, start_worker, submit, approve, hosts = block.strip().splitlines()
    # the commands keep the runs in the SQLite file under the working directory (one machine)
    assert hosts.startswith("# on many hosts")
    assert all("--db" not in line for line in (start_worker, submit, approve))
    # the development install has the extra (and with it procrastinate)
    assert install.split("#")[0].strip() == "pip install 'railgraph[worker]'"
    assert "worker" in (metadata.metadata("railgraph").get_all("Provides-Extra") or [])
    # The README's queue host is a fresh database of this test's server, over TCP (a socket
    # URL's `&` would need quoting in the export line).
    name = postgres_server.create_database().split("/")[-1].split("?")[0]
    queue = postgres_server.url(name, tcp=True)
    readme_queue = "postgresql://queue-host/railgraph"
    assert export == f"export {QUEUE_ENV}={readme_queue}"
    export = export.replace(readme_queue, queue)
    # Each command runs after the export line, as in one shell; nothing else names the queue.
    shell_env = {k: v for k, v in env().items() if k != QUEUE_ENV}

    def sh(command: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{export}\n{command}"],
            cwd=tmp_path,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # no "a worker's sweep will find it": the job was queued
        return done.stdout

    cluster = Cluster(tmp_path, str(tmp_path / ".railgraph" / "railgraph.db"), queue)
    try:
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                # exec: the SIGTERM the README speaks of reaches the worker, not the shell
                ["bash", "-euo", "pipefail", "-c", f"{export}\nexec {start_worker}"],
                cwd=tmp_path,
                env=shell_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        cluster.workers.append(worker)

        def working(done: Check) -> Check:
            def check(runs: dict[str, RunRecord]) -> bool:
                # a worker that exited (a wrong flag, say) fails the test now, with its log
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                return done(runs)

            return check

        [line] = sh(submit).splitlines()
        run_id = line.split()[1].rstrip(":")
        assert line == f"run {run_id}: running"  # recorded; the worker drives it
        cluster.wait_for("the run to pause for a person", working(settled))
        assert cluster.runs()[run_id].status == "paused"  # T-1002 asks for $480
        [(request, *asked)] = asyncio.run(stored(cluster.store, run_id))[1]
        assert asked == ["approve_refund", "pending", None]

        assert re.findall(r"\bRUN\b", approve) == ["RUN"]
        decided = sh(re.sub(r"\bRUN\b", run_id, approve))
        assert decided.splitlines() == [
            f"run {run_id}: paused",
            f"  reason: the decision on request {request} is recorded; a worker delivers it",
        ]
        cluster.wait_for("the approved run to end", working(ended))

        worker.send_signal(signal.SIGTERM)  # as the README says: SIGTERM stops it
        assert worker.wait(WAIT_S) == 0, (tmp_path / "worker.log").read_text()
    finally:
        cluster.stop()

    [record] = cluster.runs().values()
    assert (record.run_id, record.status, record.lease_owner) == (run_id, "completed", None)
    effects, approvals = asyncio.run(stored(cluster.store, run_id))
    assert effects == [("create_refund", "completed"), ("notify_customer", "completed")]
    assert approvals == [(request, "approve_refund", "approved", "alice")]
    assert cluster.tool_calls(run_id) == [("create_refund", "ok"), ("notify_customer", "ok")]
    helpdesk = Helpdesk(tmp_path / ".railgraph" / "helpdesk.db")
    assert [(r["ticket_id"], r["amount"]) for r in helpdesk.refunds()] == [("T-1002", 480.0)]
    assert [n["ticket_id"] for n in helpdesk.notifications()] == ["T-1002"]


async def stored(db: str, run_id: str) -> tuple[list[Any], list[Any]]:
    """A run's ledger entries and review requests: (tool, status), (request, gate, status, by)."""
    async with open_store(db) as store:
        effects = await store.list_effects(run_id)
        approvals = await store.list_approvals(status=None, run_id=run_id)
    return (
        [(e.tool, e.status) for e in effects],
        [(a.request_id, a.node, a.status, a.decided_by) for a in approvals],
    )


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
    out, _ = quick_bench("checkpointer.py", tmp_path, timeout=120)
    for row in ("(a) µs per node", "(b) bytes on disk", "(c) ms aget_tuple", "(d) ms alist"):
        assert row in out
    assert out.count("PASS") + out.count("FAIL") == 5


def quick_bench(script: str, cwd: Path, *, timeout: float = 600) -> tuple[str, list[str]]:
    """Run README's command for `bench/{script}` with `--quick`: its output and table rows."""
    [command] = [b for b in blocks("bash") + blocks("sh") if f"bench/{script}" in b]
    assert command.split("#")[0].strip() == f"python bench/{script}"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    return done.stdout, rows


def test_the_rails_benchmark_command_prints_every_target(tmp_path: Path) -> None:
    out, rows = quick_bench("rails.py", tmp_path)
    assert len(rows) == 18  # every target of the speed issue (the step graph twice), a row each
    assert all(row.rstrip(" |").endswith(("met", "MISSED")) for row in rows)
    assert "Durability and safety hold for these numbers" in out


def test_the_overhead_benchmark_prints_each_part_of_the_rails(tmp_path: Path) -> None:
    _, rows = quick_bench("overhead.py", tmp_path)
    cells = [[cell.strip() for cell in row.strip(" |").split("|")] for row in rows]
    variants = [
        "all rails",
        "without the kill switch",
        "without storing events",
        "without the usage write",
        "without all three",
    ]
    assert [(graph, rails) for graph, rails, _, _ in cells] == [
        (graph, variant) for graph in ("llm", "tool_read") for variant in variants
    ]
    assert all(re.fullmatch(r"\d+\.\d\dx", ratio) for _, _, ratio, _ in cells)
    assert all(re.fullmatch(r"-?[\d,]+", micros) for _, _, _, micros in cells)


def test_the_floor_benchmark_prints_the_floor_of_each_target(tmp_path: Path) -> None:
    _, rows = quick_bench("floor.py", tmp_path)
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    assert [(row[0], row[1]) for row in cells] == [
        ("step_async", "1.15x"),
        ("llm", "1.20x"),
        ("tool_read", "1.20x"),
        ("tool_write", "1.20x"),
        ("saver", "1.30x"),
    ]
    for graph, _, floor, rails, micros, disk in cells:
        assert re.fullmatch(r"\d+\.\d\dx", floor) and re.fullmatch(r"\d+\.\d\dx", rails)
        assert re.fullmatch(r"[\d,]+ / [\d,]+ / [\d,]+", micros)
        # Bytes on disk are compared for the graphs, not for the savers' row.
        assert re.fullmatch(r"\d+\.\d\dx / \d+\.\d\dx", disk) or (graph == "saver" and disk == "")


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
