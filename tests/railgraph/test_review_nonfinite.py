"""A reviewed call whose arguments hold NaN or an infinity is decided on what it really is.

pydantic's JSON-mode dump turns such a number inside an ``Any`` value into ``None``: the
stored request said ``null``, the gate then saw a call that differed from the reviewed one
and failed every approval, and a reviewer was shown ``null`` for a call that would run with
an infinity. The run now keeps the values exactly, and people are shown them as the JSON
strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph.message import add_messages
from langgraph.types import Command
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from railgraph import END, START, DecisionError, GraphBuilder, RailGraph, Runner
from railgraph._cli import app
from railgraph._served_db import DATABASES
from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph.nodes._state import APPROVALS, REQUESTS
from railgraph.server import ServedGraph
from railgraph.vocab import shown
from tests.conftest import FakeTime, RecordingChatModel, strict_json

INF, NAN = math.inf, math.nan


class PushArgs(BaseModel):
    x: float
    extra: dict[str, Any] = Field(default_factory=dict)
    items: list[Any] = Field(default_factory=list)
    note: str = ""


class Pushed(BaseModel):
    y: float


class Box(BaseModel):
    pushed: dict[str, Any] = Field(default_factory=dict)


def pushing(received: list[dict[str, Any]], source: dict[str, Any]) -> RailGraph:
    """A write tool behind an approve gate; the call's arguments are read from ``source``
    each time, so a test can change them while the run waits."""
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def push(args: PushArgs) -> Pushed:
        received.append(args.model_dump())
        return Pushed(y=1.0)

    g = GraphBuilder("pushing", Box, tools=tools)
    g.approve("ok", action="do", approved="do", rejected=END)
    g.tool("do", tool="push", args=lambda s: dict(source), output="pushed")
    g.edge(START, "ok").edge("do", END)
    return g.build()


def proposal(number: float) -> dict[str, Any]:
    """The number as a typed field, nested in a dict and a list of ``Any``, several times."""
    return {"x": number, "extra": {"deep": [number, 2.5]}, "items": [number, -INF], "note": "n"}


def shown_text(number: float) -> str:
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


NUMBERS = pytest.mark.parametrize("number", [INF, -INF, NAN], ids=["inf", "-inf", "nan"])


@NUMBERS
async def test_an_approval_runs_exactly_the_proposed_values(runner: Runner, number: float) -> None:
    received: list[dict[str, Any]] = []
    rail = pushing(received, proposal(number))
    paused = await runner.start(rail, {})
    assert paused.status == "paused"

    done = await runner.approve(paused.run_id, by="alice")

    assert (done.status, done.reason) == ("completed", None)
    # repr tells an infinity from the text "Infinity", and shows a NaN as nan.
    assert repr(received) == repr([proposal(number)])
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert approval.status == "approved"
    assert approval.decision is not None
    text = shown_text(number)
    assert approval.decision["reviewed"] == {
        "x": text,
        "extra": {"deep": [text, 2.5]},
        "items": [text, "-Infinity"],
        "note": "n",
    }
    events = await runner.store.list_events(paused.run_id)
    (asked,) = [e.data for e in events if e.kind == "approval_requested"]
    assert asked["request"]["action"]["args"] == approval.decision["reviewed"]
    (called,) = [e.data for e in events if e.kind == "tool_call"]
    assert called["args"] == approval.decision["reviewed"]
    assert [e.data for e in events if e.kind == "approval_decided"] == [
        {
            "decision": "approve",
            "by": "alice",
            "os_user": approval.decision["os_user"],
            "host": approval.decision["host"],
            "reason": None,
            "args": None,
        }
    ]


@NUMBERS
async def test_an_edit_of_another_field_leaves_the_numbers_as_proposed(
    runner: Runner, number: float
) -> None:
    received: list[dict[str, Any]] = []
    paused = await runner.start(pushing(received, proposal(number)), {})

    done = await runner.approve(paused.run_id, by="alice", edit={"note": "checked"})

    assert (done.status, done.reason) == ("completed", None)
    assert repr(received) == repr([{**proposal(number), "note": "checked"}])
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert (approval.status, approval.decision and approval.decision["args"]) == (
        "edited",
        {"note": "checked"},
    )
    assert approval.decision is not None
    events = await runner.store.list_events(paused.run_id)
    (decided,) = [e for e in events if e.kind == "approval_decided"]
    assert decided.data == {
        "decision": "edit",
        "by": "alice",
        "os_user": approval.decision["os_user"],
        "host": approval.decision["host"],
        "reason": None,
        "args": {"note": "checked"},
    }


@NUMBERS
async def test_a_rejection_stops_the_run_and_nothing_is_called(
    runner: Runner, number: float
) -> None:
    received: list[dict[str, Any]] = []
    paused = await runner.start(pushing(received, proposal(number)), {})

    done = await runner.reject(paused.run_id, by="alice", reason="too much")

    assert (done.status, done.reason) == ("rejected", "rejected by alice: too much")
    assert received == []
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert approval.status == "rejected"


async def test_the_run_keeps_the_exact_values_in_its_state(runner: Runner) -> None:
    """REQUESTS and APPROVALS are checkpointed through LangGraph's serializer (msgpack),
    which keeps every float exactly, NaN and the infinities too."""
    received: list[dict[str, Any]] = []
    rail = pushing(received, proposal(NAN) | {"x": INF})
    paused = await runner.start(rail, {})
    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    app_ = runner._app(rail)
    config = runner._config(rail, record)
    waiting = (await app_.aget_state(config)).values[REQUESTS]["ok"]
    assert repr(waiting["request"]["action"]["args"]) == repr(proposal(NAN) | {"x": INF})

    await runner.approve(paused.run_id, by="alice")

    approvals = [
        s.values[APPROVALS]["do"]
        async for s in app_.aget_state_history(config)
        if s.values.get(APPROVALS, {}).get("do")
    ]
    assert [repr(a["args"]) for a in approvals] == [repr(proposal(NAN) | {"x": INF})]
    assert repr(received) == repr([proposal(NAN) | {"x": INF}])


@pytest.mark.parametrize(
    ("before", "after", "reviewed", "now"),
    [
        (INF, 5.0, "'Infinity'", "5.0"),
        (5.0, INF, "5.0", "'Infinity'"),
        (NAN, 1.0, "'NaN'", "1.0"),
        (-INF, INF, "'-Infinity'", "'Infinity'"),
    ],
    ids=["inf-to-finite", "finite-to-inf", "nan-to-number", "-inf-to-inf"],
)
async def test_a_changed_call_is_still_refused(
    runner: Runner, before: float, after: float, reviewed: str, now: str
) -> None:
    received: list[dict[str, Any]] = []
    source = {"x": before}
    paused = await runner.start(pushing(received, source), {})
    source["x"] = after

    done = await runner.approve(paused.run_id, by="alice")

    assert done.status == "failed"
    assert done.reason == (
        "RunError: approve gate 'ok': the call under review changed between the request and "
        f"the decision (reviewed {{'x': {reviewed}}}, now {{'x': {now}}}); the run stops so "
        "that nothing runs that a person did not approve — start a new run"
    )
    assert received == []


@pytest.mark.parametrize(
    ("before", "after"), [("Infinity", INF), (INF, "Infinity")], ids=["text->inf", "inf->text"]
)
async def test_a_number_that_became_its_text_is_a_changed_call(
    runner: Runner, before: Any, after: Any
) -> None:
    # Shown alike ("Infinity"), but not the same call: the gate compares the call it asked
    # about exactly with the call now.
    received: list[dict[str, Any]] = []
    source: dict[str, Any] = {"x": 1.0, "items": [before]}
    paused = await runner.start(pushing(received, source), {})
    source["items"] = [after]

    done = await runner.approve(paused.run_id, by="alice")

    assert done.status == "failed"
    assert done.reason == (
        "RunError: approve gate 'ok': the call under review changed between the request and "
        "the decision (reviewed {'x': 1.0, 'items': ['Infinity']}, now {'x': 1.0, 'items': "
        "['Infinity']}; a number that is not finite became its text, or the reverse); the run "
        "stops so that nothing runs that a person did not approve — start a new run"
    )
    assert received == []


async def test_an_edit_that_gives_the_shown_values_back_keeps_the_numbers(runner: Runner) -> None:
    # A reviewer (or a script) sends back every argument as shown, changing one: the others
    # are not changed, so the proposed infinities stay numbers, not the text "Infinity".
    received: list[dict[str, Any]] = []
    paused = await runner.start(pushing(received, {**proposal(INF), "x": 1.0}), {})
    (asked,) = await runner.store.list_approvals(run_id=paused.run_id)
    shown_args = asked.request["action"]["args"]
    assert shown_args["items"] == ["Infinity", "-Infinity"]

    done = await runner.approve(paused.run_id, by="alice", edit={**shown_args, "note": "checked"})

    assert done.status == "completed"
    assert repr(received) == repr(
        [{"x": 1.0, "extra": {"deep": [INF, 2.5]}, "items": [INF, -INF], "note": "checked"}]
    )


async def test_an_edit_that_keeps_the_text_of_a_number_is_refused(runner: Runner) -> None:
    # Changing one element of a list and keeping the text of an infinity beside it would
    # put the string "Infinity" where the call has a number.
    received: list[dict[str, Any]] = []
    paused = await runner.start(pushing(received, {"x": 1.0, "items": [INF, 1.0]}), {})

    with pytest.raises(DecisionError) as refused:
        await runner.approve(paused.run_id, by="alice", edit={"items": ["Infinity", 2.0]})

    assert str(refused.value) == (
        "the edit gives 'items' the text of a number that is not finite (NaN, Infinity, "
        "-Infinity), which the proposed call holds as a number: leave 'items' out of the edit "
        "to keep its proposed value, or give finite numbers; the request is still pending, "
        "decide again with arguments that match PushArgs (x, extra, items, note)"
    )
    (request,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert request.status == "pending"
    assert received == []


async def test_a_request_stored_with_null_by_an_older_release_is_refused_clearly(
    runner: Runner, tmp_path: Path
) -> None:
    """Releases before the shown form stored an infinity in the queue as null."""
    received: list[dict[str, Any]] = []
    paused = await runner.start(pushing(received, {"x": INF, "items": [NAN]}), {})
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id)
    old = {**approval.request, "action": {**approval.request["action"]}}
    old["action"]["args"] = {"x": None, "items": [None]}
    with sqlite3.connect(tmp_path / "rg.db") as db:
        db.execute(
            "UPDATE approvals SET request = ? WHERE request_id = ?",
            (json.dumps(old), approval.request_id),
        )

    done = await runner.approve(paused.run_id, by="alice")

    assert done.status == "failed"
    assert done.reason == (
        "RunError: approve gate 'ok': the reviewer was shown null where the call has a "
        "number that is not finite (reviewed {'x': None, 'items': [None]}, the call has "
        "{'x': 'Infinity', 'items': ['NaN']}); earlier releases stored such numbers in the "
        "review queue as null, so nobody saw the call as it would run — the run stops, "
        "start a new run"
    )
    assert received == []


def test_pending_shows_the_numbers_as_json_strings(isolated: Path) -> None:
    db = isolated / "rg.db"

    async def pause() -> str:
        async with Runner.open(db) as runner:
            received: list[dict[str, Any]] = []
            rail = pushing(received, proposal(NAN) | {"x": -INF})
            paused = await runner.start(rail, {"pushed": {"seed": INF}})
            return paused.run_id

    run_id = asyncio.run(pause())
    cli = CliRunner()

    listed = cli.invoke(app, ["pending", "--db", str(db), "--json"])
    by_graph = cli.invoke(app, ["pending", "--db", str(db), "--graph", "pushing", "--json"])
    other = cli.invoke(app, ["pending", "--db", str(db), "--graph", "other"])
    text = cli.invoke(app, ["pending", "--db", str(db)])
    show = cli.invoke(app, ["show", run_id, "--db", str(db), "--json"])
    runs = cli.invoke(app, ["runs", "--db", str(db), "--json"])

    assert (listed.exit_code, by_graph.exit_code, other.exit_code) == (0, 0, 0)
    (request,) = strict_json(listed.output)
    assert request["arguments"] == {
        "x": "-Infinity",
        "extra": {"deep": ["NaN", 2.5]},
        "items": ["NaN", "-Infinity"],
        "note": "n",
    }
    assert strict_json(by_graph.output) == [request]
    assert other.output == "no pending review requests\n"
    assert text.exit_code == 0
    assert (
        '  arguments: {"extra": {"deep": ["NaN", 2.5]}, "items": ["NaN", "-Infinity"], '
        '"note": "n", "x": "-Infinity"}\n'
    ) in text.output
    assert show.exit_code == 0
    report = strict_json(show.output)
    assert report["input"] == {"pushed": {"seed": "Infinity"}}
    (listed_run,) = strict_json(runs.output)
    assert (listed_run["run_id"], listed_run["input"]) == (run_id, {"pushed": {"seed": "Infinity"}})
    (asked,) = [e["data"] for e in report["events"] if e["kind"] == "approval_requested"]
    assert asked["request"]["action"]["args"] == request["arguments"]


def test_shown_writes_each_number_as_its_json_string() -> None:
    value = {"a": [INF, -INF, NAN, 1.5, "Infinity"], "b": (NAN,), "c": None, "d": 3}

    assert shown(value) == {
        "a": ["Infinity", "-Infinity", "NaN", 1.5, "Infinity"],
        "b": ["NaN"],
        "c": None,
        "d": 3,
    }
    assert shown(shown(value)) == shown(value)
    # Plain strings, never enum members: events holding them are checkpointed.
    assert [type(v) for v in shown([INF, -INF, NAN])] == [str, str, str]


async def test_the_served_graph_asks_with_the_numbers_shown_and_runs_them_exactly(
    tmp_path: Path, fake_time: FakeTime
) -> None:
    received: list[dict[str, Any]] = []
    served = ServedGraph(
        pushing(received, proposal(INF)),
        db=tmp_path / "rg.db",
        clock=fake_time.clock,
        timer=fake_time.timer,
    )
    config: Any = {"configurable": {"thread_id": "r1"}}
    async with DATABASES.hold(str(tmp_path / "rg.db")) as saver:

        async def drive(payload: Any) -> Any:
            async with served(config) as graph:
                graph = graph.copy(update={"checkpointer": saver})
                await graph.ainvoke(payload, config, durability="sync")
                return await graph.aget_state(config)

        (asked,) = (await drive({})).interrupts
        # Agent Inbox sends every argument back as text; those left alone are not an edit.
        edited = {
            "x": "Infinity",
            "extra": '{"deep": ["Infinity", 2.5]}',
            "items": '["Infinity", "-Infinity"]',
            "note": "checked",
        }
        response = {"type": "edit", "args": {"action": "push", "args": edited}, "by": "maria"}
        await drive(Command(resume=[response]))
        (request,) = await saver.store.list_approvals(run_id="r1", status=None)
        record = await saver.store.get_run("r1")

    assert asked.value[0]["action_request"] == {
        "action": "push",
        "args": {
            "x": "Infinity",
            "extra": {"deep": ["Infinity", 2.5]},
            "items": ["Infinity", "-Infinity"],
            "note": "n",
        },
    }
    assert (request.status, request.decision and request.decision["args"]) == (
        "edited",
        {"note": "checked"},
    )
    assert record is not None and record.status == "completed"
    assert repr(received) == repr([{**proposal(INF), "note": "checked"}])


class Chat(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


@NUMBERS
async def test_an_agents_call_under_review_runs_exactly_what_its_model_chose(
    runner: Runner, number: float
) -> None:
    received: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def push(args: PushArgs) -> Pushed:
        """Push a value."""
        received.append(args.model_dump())
        return Pushed(y=1.0)

    chose = AIMessage(
        "",
        tool_calls=[{"name": "push", "args": proposal(number), "id": "c1", "type": "tool_call"}],
    )
    model = RecordingChatModel(responses=[chose, AIMessage("done")])
    g = GraphBuilder("agent_push", Chat, tools=tools, policy=ToolPolicy(tools={"push": "approve"}))
    g.agent(
        "agent", model=model, model_name="m", tools=["push"], prompt=lambda s: "go", answered=END
    )
    g.edge(START, "agent")
    paused = await runner.start(g.build(), {})
    (request,) = paused.pending
    text = shown_text(number)

    done = await runner.approve(paused.run_id, by="alice", edit={"note": "checked"})

    as_shown = {
        "x": text,
        "extra": {"deep": [text, 2.5]},
        "items": [text, "-Infinity"],
        "note": "n",
    }
    assert request.request["action"]["args"] == as_shown
    assert (done.status, done.reason) == ("completed", None)
    assert repr(received) == repr([{**proposal(number), "note": "checked"}])
    events = await runner.store.list_events(paused.run_id)
    assert [
        (e.data["status"], e.data["args"]["x"], e.data["ran_args"] and e.data["ran_args"]["note"])
        for e in events
        if e.kind == "agent_call"
    ] == [("needs_approval", text, None), ("ok", text, "checked")]
    assert [e.data["tool_calls"] for e in events if e.kind == "llm_call"] == [
        [{"name": "push", "args": as_shown}],
        [],
    ]
    (called,) = [e.data for e in events if e.kind == "tool_call"]
    assert called["args"] == {**as_shown, "note": "checked"}


class Keyed(BaseModel):
    api_key: str
    x: float = 1.0


async def test_an_agents_call_with_a_secret_argument_can_be_approved(runner: Runner) -> None:
    # The reviewer saw the call with its secret redacted, as the store keeps it: the agent
    # compared that with the call unredacted, and refused every such approval.
    received: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def push(args: Keyed) -> Pushed:
        """Push with a key."""
        received.append(args.model_dump())
        return Pushed(y=1.0)

    call = {"name": "push", "args": {"api_key": "s3cret", "x": 2.0}, "id": "c1"}
    chose = AIMessage("", tool_calls=[{**call, "type": "tool_call"}])
    model = RecordingChatModel(responses=[chose, AIMessage("done")])
    g = GraphBuilder("agent_key", Chat, tools=tools, policy=ToolPolicy(tools={"push": "approve"}))
    g.agent(
        "agent", model=model, model_name="m", tools=["push"], prompt=lambda s: "go", answered=END
    )
    g.edge(START, "agent")
    paused = await runner.start(g.build(), {})
    (asked,) = await runner.store.list_approvals(run_id=paused.run_id)

    done = await runner.approve(paused.run_id, by="alice")

    assert asked.request["action"]["args"] == {"api_key": "[redacted]", "x": 2.0}
    assert (done.status, done.reason) == ("completed", None)
    assert received == [{"api_key": "s3cret", "x": 2.0}]


class Plan(BaseModel):
    args: dict[str, Any]


class Planned(BaseModel):
    plan: dict[str, Any] | None = None


async def test_an_llm_nodes_parsed_output_keeps_its_numbers(runner: Runner) -> None:
    # A parsed reply's model was dumped in JSON's form, which wrote an infinity inside an
    # `Any` value as null before it reached the state (and a tool's arguments after it).
    model = RecordingChatModel(responses=[AIMessage("plan")])
    g = GraphBuilder("planner", Planned)
    g.llm(
        "plan",
        model=model,
        model_name="m",
        prompt=lambda s: "go",
        output="plan",
        parse=lambda reply: Plan(args={"limit": INF, "floor": [NAN]}),
    )
    g.edge(START, "plan").edge("plan", END)

    done = await runner.start(g.build(), {})

    assert done.status == "completed"
    assert repr(done.result) == repr({"plan": {"args": {"limit": INF, "floor": [NAN]}}})
