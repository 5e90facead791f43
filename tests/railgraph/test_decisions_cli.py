"""Decisions from the command line, in real processes, as the issue's attacks made them.

An edit with a misspelled field or an infinite amount is refused and the request stays
pending. A payment's process is killed (SIGKILL) right after the payment system took it and
before the ledger recorded it; a new process resumes the run, which asks a person what
happened; the person answers from a third process with the result they saw. The run
completes with that result and the payment exists exactly once.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

GRAPH = """
import os
import signal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph import END, START, GraphBuilder


class Payment(BaseModel):
    amount: float


class Paid(BaseModel):
    ref: str


class State(BaseModel):
    receipt: dict[str, Any] | None = None


tools = ToolRegistry()


@tools.tool(tier="write")
def pay(args: Payment) -> Paid:
    ledger = Path("payments.txt")
    with ledger.open("a") as f:
        f.write(f"{args.amount}\\n")
    if os.environ.get("DIE_AFTER_PAYING"):
        os.kill(os.getpid(), signal.SIGKILL)
    return Paid(ref=f"P-{len(ledger.read_text().splitlines())}")


g = GraphBuilder("pay", State, tools=tools)
g.tool("pay", args=lambda s: {"amount": 12.5}, output="receipt")
g.edge(START, "pay").edge("pay", END)
graph = g.build()

refund = GraphBuilder("refund", State, tools=tools, policy=ToolPolicy(tools={"pay": "approve"}))
refund.approve("review", action="pay", approved="pay", rejected=END)
refund.tool("pay", args=lambda s: {"amount": 1250.0}, output="receipt")
refund.edge(START, "review").edge("pay", END)
reviewed = refund.build()
"""


def railgraph(cwd: Path, *args: str, die: bool = False) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    if die:
        env["DIE_AFTER_PAYING"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "railgraph", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_crashed_payment_answered_it_happened_completes_once(tmp_path: Path) -> None:
    (tmp_path / "fx_pay.py").write_text(GRAPH)

    killed = railgraph(tmp_path, "run", "fx_pay:graph", "--json", die=True)
    assert killed.returncode == -signal.SIGKILL
    [run] = as_json(railgraph(tmp_path, "runs", "--json"))
    assert run["status"] == "running"
    run_id = run["run_id"]

    asked = as_json(railgraph(tmp_path, "resume", run_id, "--json"))
    assert asked["status"] == "paused"
    [request] = asked["pending"]
    assert request["request"]["kind"] == "unknown_effect"
    assert request["request"]["action"]["args"] == {"amount": 12.5}

    done = as_json(
        railgraph(
            tmp_path,
            "approve",
            run_id,
            "--by",
            "ops",
            "--happened",
            '{"ref": "P-1"}',
            "--json",
        )
    )

    assert (done["status"], done["result"]) == ("completed", {"receipt": {"ref": "P-1"}})
    assert (tmp_path / "payments.txt").read_text().splitlines() == ["12.5"]
    shown = as_json(railgraph(tmp_path, "show", run_id, "--json"))
    assert [(c["tool"], c["status"], c["result"]) for c in shown["tool_calls"]] == [
        ("pay", "reported", {"ref": "P-1"})
    ]
    assert [(d["status"], d["by"]) for d in shown["decisions"]] == [("happened", "ops")]
    assert shown["decisions"][0]["os_user"] == pwd.getpwuid(os.getuid()).pw_name
    # Resuming again changes nothing: the effect is final in the ledger.
    again = railgraph(tmp_path, "resume", run_id)
    assert again.returncode == 2
    assert "there is nothing to resume" in again.stderr
    assert (tmp_path / "payments.txt").read_text().splitlines() == ["12.5"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ('{"amout": 50}', "the edit names fields that tool 'pay' does not have: 'amout'"),
        # The CLI refuses Infinity while reading the JSON, before it asks the store.
        ('{"amount": Infinity}', "Infinity is not a JSON number; pass a finite number"),
        ('{"amount": "50"}', "the edit does not fit tool 'pay' (amount: Input should be a valid"),
    ],
)
def test_a_bad_edit_is_refused_and_the_request_stays_pending(
    tmp_path: Path, edit: str, problem: str
) -> None:
    (tmp_path / "fx_pay.py").write_text(GRAPH)
    paused = as_json(railgraph(tmp_path, "run", "fx_pay:reviewed", "--by", "sam", "--json"))
    assert paused["status"] == "paused"

    refused = railgraph(tmp_path, "approve", paused["run_id"], "--by", "ann", "--edit", edit)

    assert refused.returncode == 2
    assert problem in refused.stderr
    if "Infinity" not in edit:
        assert "the request is still pending" in refused.stderr
    [pending] = as_json(railgraph(tmp_path, "pending", "--json"))
    assert pending["run_id"] == paused["run_id"]
    assert not (tmp_path / "payments.txt").exists()
    done = as_json(
        railgraph(
            tmp_path,
            "approve",
            paused["run_id"],
            "--by",
            "ann",
            "--edit",
            '{"amount": 50}',
            "--json",
        )
    )
    assert done["status"] == "completed"
    assert (tmp_path / "payments.txt").read_text().splitlines() == ["50.0"]
