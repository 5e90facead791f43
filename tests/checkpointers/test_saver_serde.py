"""Checkpoints load through an allowlist: a crafted row is a clear StoreError, never code."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel
from typer.testing import CliRunner
from typing_extensions import TypedDict

from railgraph._cli import app
from railgraph.checkpointers import AllowlistSerializer, SqliteCheckpointer, model_types
from railgraph.errors import StoreError


def crafted(module: str, name: str, args: list[Any], code: int = 1) -> bytes:
    """A msgpack value naming a callable and its arguments, as LangGraph's format does."""
    return ormsgpack.packb(ormsgpack.Ext(code, ormsgpack.packb([module, name, args])))


def test_a_row_naming_os_system_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    serde = AllowlistSerializer()
    with pytest.raises(StoreError) as caught:
        serde.loads_typed(("msgpack", crafted("os", "system", [f"touch {marker}"])))
    assert "names os.system, which is not on the list of types" in str(caught.value)
    assert "nothing was imported or run" in str(caught.value)
    assert not marker.exists()


def test_a_refused_object_nested_in_an_allowed_one_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    inner = ormsgpack.Ext(1, ormsgpack.packb(["os", "system", [f"touch {marker}"]]))
    message = ormsgpack.Ext(
        5,
        ormsgpack.packb(
            ["langchain_core.messages.human", "HumanMessage", {"content": inner}, "model_validate"]
        ),
    )
    with pytest.raises(StoreError, match=r"names os\.system"):
        AllowlistSerializer().loads_typed(("msgpack", ormsgpack.packb({"m": message})))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value_type", "payload", "message"),
    [
        ("pickle", b"\x80\x04K\x01.", "stored as 'pickle', a format railgraph never writes"),
        ("msgpack", crafted("builtins", "eval", ["1+1"]), "names builtins.eval"),
        ("msgpack", crafted("subprocess", "run", [["true"]], code=2), "names subprocess.run"),
        (
            "msgpack",
            ormsgpack.packb(ormsgpack.Ext(3, ormsgpack.packb(["os", "path", "x", "join"]))),
            "names the method os.path.join",
        ),
        ("msgpack", ormsgpack.packb(ormsgpack.Ext(42, b"")), "an unknown msgpack extension 42"),
        ("msgpack", b"\xc1", "cannot be read"),
    ],
)
def test_other_unsafe_or_corrupt_values_are_refused(
    value_type: str, payload: bytes, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        AllowlistSerializer().loads_typed((value_type, payload))


class Kind(enum.Enum):
    REFUND = "refund"


@dataclasses.dataclass
class Note:
    text: str


class Line(BaseModel):
    sku: str
    kind: Kind


class Box(TypedDict):
    note: Note


class State(BaseModel):
    lines: list[Line]
    box: Box | None = None
    when: datetime | None = None


def test_state_types_round_trip_once_allowed() -> None:
    assert model_types(State) >= {State, Line, Kind, Note}
    value = {
        "lines": [Line(sku="A", kind=Kind.REFUND)],
        "note": Note("hi"),
        "messages": [HumanMessage("hello"), AIMessage("hi there")],
        "when": datetime(2026, 1, 2, 3, 4, 5),
    }
    stored = AllowlistSerializer().dumps_typed(value)
    with pytest.raises(StoreError, match=r"names tests\.checkpointers\.test_saver_serde"):
        AllowlistSerializer().loads_typed(stored)
    assert AllowlistSerializer(model_types(State)).loads_typed(stored) == value


def test_resume_and_approve_on_a_crafted_row_refuse_without_running_it(tmp_path: Path) -> None:
    runner = CliRunner()
    started = runner.invoke(
        app, ["run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id":"T-1002"}', "--json"]
    )
    assert started.exit_code == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    marker = tmp_path / "pwned"
    with sqlite3.connect(tmp_path / ".railgraph" / "railgraph.db") as conn:
        changed = conn.execute(
            "UPDATE checkpoint_blobs SET type = 'msgpack', blob = ?, value_hash = NULL "
            "WHERE thread_id = ? AND channel = 'ticket_id'",
            (crafted("os", "system", [f"touch {marker}"]), run_id),
        ).rowcount
    assert changed >= 1
    for command in (["resume", run_id], ["approve", run_id, "--by", "alice"]):
        done = runner.invoke(app, command)
        assert done.exit_code == 2, (command, done.stdout, done.stderr)
        assert "names os.system, which is not on the list of types" in done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert not marker.exists()
    with sqlite3.connect(tmp_path / ".railgraph" / "railgraph.db") as conn:
        status, error = conn.execute(
            "SELECT status, error FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    # The decision was recorded, then the run could not load: it is interrupted (running,
    # nobody's lease) with the reason, not failed and not paused as if nothing was decided.
    assert status == "running"
    assert error.startswith(f"run {run_id} could not go on: ")
    assert "names os.system, which is not on the list of types" in error
    with sqlite3.connect(tmp_path / ".railgraph" / "helpdesk.db") as conn:
        refunds = conn.execute("SELECT ticket_id FROM refunds").fetchall()
    assert refunds == []


PLAIN_TYPED = """
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel


class Item(BaseModel):
    sku: str


class State(TypedDict):
    item: Item | None


builder = StateGraph(State)
builder.add_node("pick", lambda state: {"item": Item(sku="A-1")})
builder.add_edge(START, "pick")
builder.add_edge("pick", END)
graph = builder.compile()
"""


def test_a_plain_graphs_own_types_load_when_it_is_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rg_plain_typed.py").write_text(PLAIN_TYPED)
    monkeypatch.syspath_prepend(str(tmp_path))
    import rg_plain_typed  # type: ignore[import-not-found]

    db = tmp_path / "plain.db"

    async def run_thread() -> None:
        async with SqliteCheckpointer.from_path(db, allowed_types=[rg_plain_typed.Item]) as saver:
            app_ = rg_plain_typed.builder.compile(checkpointer=saver)
            config: Any = {"configurable": {"thread_id": "t1"}}
            await app_.ainvoke({"item": None}, config, durability="sync")
            state = await app_.aget_state(config)
            assert state.values["item"] == rg_plain_typed.Item(sku="A-1")
        async with SqliteCheckpointer.from_path(db) as saver:
            with pytest.raises(StoreError, match=r"names rg_plain_typed\.Item"):
                await saver.aget_tuple(config)

    asyncio.run(run_thread())
    done = CliRunner().invoke(
        app, ["render", "rg_plain_typed:graph", "--run", "t1", "--db", str(db), "-o", "t.dot"]
    )
    assert done.exit_code == 0, done.stderr
    assert "run t1: completed" in (tmp_path / "t.dot").read_text()
