"""A process dies between a model-chosen effect and its record, with a non-idempotent tool.

The effect may have happened, so it is not repeated on its own: the resumed run asks a person
(an unknown-effect review of the agent's call), and the calls before it replay from the
ledger. Rejecting "send again" tells the model, which goes on; the effect stays single.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph.nodes import ToolRegistry
from tests.conftest import FollowingModel

REF = "tests.nodes.test_agent_crash:graph"


class State(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


class Line(BaseModel):
    text: str


class Written(BaseModel):
    lines: int


def make(workdir: Path, die_after: str | None) -> tuple[RailGraph, FollowingModel]:
    tools = ToolRegistry()
    ledger = workdir / "effects.txt"

    @tools.tool(tier="write")  # not idempotent: a repeat would write a second line
    def append(args: Line) -> Written:
        """Append a line to a file."""
        with ledger.open("a") as f:
            f.write(args.text + "\n")
        if args.text == die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return Written(lines=len(ledger.read_text().splitlines()))

    model = FollowingModel(
        responses=[
            AIMessage(
                "",
                tool_calls=[
                    {"name": "append", "args": {"text": "one"}, "id": "a1"},
                    {"name": "append", "args": {"text": "two"}, "id": "a2"},
                ],
            ),
            AIMessage("wrote them"),
        ]
    )
    g = GraphBuilder("appender", State, tools=tools)
    g.agent("agent", model=model, model_name="m", tools=["append"], prompt=lambda s: "go",
            answered=END)  # fmt: skip
    g.edge(START, "agent")
    return g.build(), model


async def drive(workdir: Path, action: str, die_after: str | None) -> dict[str, Any]:
    graph, model = make(workdir, die_after)
    async with Runner.open(workdir / "rg.db") as runner:
        runner.register(REF, graph)
        if action == "start":
            outcome = await runner.start(REF, {}, run_id="r1")
        elif action == "resume":
            outcome = await runner.resume("r1")
        else:
            outcome = await runner.reject("r1", by="ann", reason="it already happened")
        told = [
            m.text for m in (model.seen[-1] if model.seen else []) if isinstance(m, ToolMessage)
        ]
        return {
            "status": outcome.status,
            "reason": outcome.reason,
            "pending": [p.request for p in outcome.pending],
            "told": told,
            "asked": len(model.seen),
        }


def child(workdir: Path, action: str, die_after: str | None) -> None:
    found = asyncio.run(drive(workdir, action, die_after))
    (workdir / "outcome.json").write_text(json.dumps(found))
    os._exit(0)


def in_new_process(workdir: Path, action: str, die_after: str | None = None) -> Any:
    """Run one step in a forked process: its exit code and what it saw (if it lived)."""
    (workdir / "outcome.json").unlink(missing_ok=True)
    process = multiprocessing.get_context("fork").Process(
        target=child, args=(workdir, action, die_after)
    )
    process.start()
    process.join(60)
    assert process.exitcode is not None, "child hung"
    seen = workdir / "outcome.json"
    return process.exitcode, (json.loads(seen.read_text()) if seen.exists() else None)


@pytest.mark.slow
def test_an_unknown_effect_of_a_model_call_is_put_to_a_person_not_repeated(
    tmp_path: Path,
) -> None:
    code, _ = in_new_process(tmp_path, "start", die_after="two")
    assert code == -signal.SIGKILL
    assert (tmp_path / "effects.txt").read_text() == "one\ntwo\n"

    code, paused = in_new_process(tmp_path, "resume")
    assert code == 0
    assert paused["status"] == "paused"
    [request] = paused["pending"]
    assert request["kind"] == "unknown_effect"
    assert request["action"]["args"] == {"text": "two"}
    # The first call replayed from the ledger; the second was not sent again.
    assert (tmp_path / "effects.txt").read_text() == "one\ntwo\n"

    code, done = in_new_process(tmp_path, "reject")
    assert code == 0
    # A person's refusal stops the run: the model is not told, so it cannot call again.
    assert (done["status"], done["reason"]) == (
        "failed",
        "EffectRefused: tool 'append' at node 'agent': ann chose not to send the call again "
        "(it already happened); the run stops",
    )
    assert (done["told"], done["asked"]) == ([], 0)
    assert (tmp_path / "effects.txt").read_text() == "one\ntwo\n"
