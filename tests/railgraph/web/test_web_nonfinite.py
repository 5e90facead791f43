"""The review page and API show a call's NaN and infinities as text and decide it exactly."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from starlette.testclient import TestClient

from railgraph.web._forms import parse_edit
from tests.conftest import strict_json

from .conftest import World, sign_in
from .test_web_api import post, token_for
from .test_web_queue import decide, only_request

PUSHES = '''
"""A write tool behind a gate whose call holds numbers that are not finite."""
import math
from typing import Any

from pydantic import BaseModel, Field

from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph import END, START, GraphBuilder


class PushArgs(BaseModel):
    x: float
    extra: dict[str, Any] = Field(default_factory=dict)
    note: str = ""


class Pushed(BaseModel):
    got: str


class State(BaseModel):
    pushed: Pushed | None = None
    level: float = math.inf


tools = ToolRegistry()


@tools.tool(tier="write")
def push(args: PushArgs) -> Pushed:
    """Push a value."""
    return Pushed(got=repr(args.model_dump()))


g = GraphBuilder("pushes", State, tools=tools, policy=ToolPolicy(tools={"push": "approve"}))
g.approve("ok", action="push", approved="push", rejected=END)
g.tool(
    "push",
    args=lambda s: {"x": math.inf, "extra": {"deep": [math.nan, -math.inf]}, "note": "n"},
    output="pushed",
)
g.edge(START, "ok")
g.edge("push", END)
graph = g.build()
'''

ARGS_SHOWN = {"x": "Infinity", "extra": {"deep": ["NaN", "-Infinity"]}, "note": "n"}


def pushes(world: World, isolated: Path) -> str:
    (isolated / "pushes.py").write_text(PUSHES)
    return world.start("pushes:graph", {}, by="dave")


def test_the_api_lists_the_numbers_as_json_strings(
    client: TestClient, world: World, isolated: Path
) -> None:
    run_id = pushes(world, isolated)
    bob = token_for(world, "bob")

    listed = client.get("/api/pending", headers=bob)
    run = client.get(f"/api/runs/{run_id}", headers=bob)

    assert listed.status_code == run.status_code == 200
    (request,) = strict_json(listed.text)
    assert request["arguments"] == ARGS_SHOWN
    (asked,) = [
        e["data"] for e in strict_json(run.text)["events"] if e["kind"] == "approval_requested"
    ]
    assert asked["request"]["action"]["args"] == ARGS_SHOWN


def test_the_page_shows_them_and_an_edit_of_another_field_keeps_them(
    client: TestClient, world: World, isolated: Path
) -> None:
    run_id = pushes(world, isolated)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    page = client.get("/queue").text
    card = page[page.index(f'id="request-{request_id}"') :]
    assert "<th>x</th><td><code>&#34;Infinity&#34;</code></td>" in card
    assert 'name="arg.x" value="Infinity" inputmode="decimal"' in card

    form = {
        "decision": "edit",
        "arg.x": "Infinity",
        "arg.extra": '{"deep": ["NaN", "-Infinity"]}',
        "arg.note": "checked",
    }
    assert decide(client, csrf, run_id, request_id, **form).status_code == 303

    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decision and approval.decision["args"]) == (
        "edited",
        {"note": "checked"},
    )
    record = world._run(lambda r: r.store.get_run(run_id))
    assert record.status == "completed"
    # The tool wrote what it received with repr: floats, not the text shown.
    assert record.result["pushed"] == {
        "got": "{'x': inf, 'extra': {'deep': [nan, -inf]}, 'note': 'checked'}"
    }


class Args(BaseModel):
    x: float
    y: float = 1.0


def test_a_number_field_may_keep_but_not_introduce_a_number_that_is_not_finite() -> None:
    kept = parse_edit(Args, {"x": "NaN", "y": 1.0}, {"x": "NaN", "y": "2"})
    introduced = parse_edit(Args, {"x": "NaN", "y": 1.0}, {"x": "NaN", "y": "Infinity"})
    other = parse_edit(Args, {"x": "Infinity", "y": 1.0}, {"x": "-Infinity", "y": "1.0"})

    assert (kept.valid, kept.edit) == (True, {"y": 2.0})
    assert [(f.name, f.error) for f in introduced.fields] == [
        ("x", None),
        ("y", "enter a finite number"),
    ]
    assert [(f.name, f.error) for f in other.fields] == [
        ("x", "enter a finite number"),
        ("y", None),
    ]


def test_a_decision_and_the_runs_list_show_a_runs_numbers_as_text(
    client: TestClient, world: World, isolated: Path
) -> None:
    # The outcome of a decision and the list of runs are JSON too: an infinity in a run's
    # input or result once made the decision's response fail (JSON has no Infinity), and
    # the list showed it as null.
    run_id = pushes(world, isolated)
    bob = token_for(world, "bob")
    (request,) = world.approvals(run_id)

    done = post(
        client,
        f"/api/runs/{run_id}/decisions",
        bob,
        {"request_id": request.request_id, "decision": "approve"},
    )
    listed = client.get("/api/runs", headers=bob)

    assert (done.status_code, listed.status_code) == (200, 200)
    outcome = strict_json(done.text)
    assert (outcome["status"], outcome["result"]["level"]) == ("completed", "Infinity")
    (run,) = [r for r in strict_json(listed.text) if r["run_id"] == run_id]
    assert (run["input"], run["result"]["level"]) == (
        {"pushed": None, "level": "Infinity"},
        "Infinity",
    )
