"""A runner opened with an injected clock stamps every record with it."""

from __future__ import annotations

from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, Runner
from railgraph.nodes import ToolRegistry


class Note(BaseModel):
    text: str = "hi"
    saved: dict[str, int] | None = None


class Text(BaseModel):
    text: str


class Saved(BaseModel):
    id: int


async def test_records_use_the_injected_clock(runner: Runner) -> None:
    tools = ToolRegistry()

    @tools.tool(tier="write")
    def save(args: Text) -> Saved:
        return Saved(id=7)

    g = GraphBuilder("notes", Note, tools=tools)
    g.approve("ok", approved="save", rejected=END)
    g.tool("save", args=lambda s: {"text": s.text}, output="saved")
    g.edge(START, "ok").edge("save", END)
    paused = await runner.start(g.build(), {})
    done = await runner.approve(paused.run_id, by="ann")
    assert done.status == "completed"

    now = 1_700_000_000.0
    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    (effect,) = await runner.store.list_effects(paused.run_id)
    events = await runner.store.list_events(paused.run_id)
    assert {e.at for e in events} == {now}
    assert (record.created_at, approval.created_at) == (now, now)
    assert approval.decision is not None
    assert approval.decision["at"] == now
    assert (record.updated_at, approval.decided_at) == (now, now)
    assert (effect.started_at, effect.finished_at) == (now, now)
