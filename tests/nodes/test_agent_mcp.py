"""Tools loaded from a local stdio MCP server run under the agent's rails."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from railgraph import END, START, DefinitionError, GraphBuilder, Runner
from railgraph.nodes import ToolPolicy, ToolRegistry, load_mcp_tools
from tests.conftest import RecordingChatModel

SERVER = Path(__file__).with_name("_mcp_notes_server.py")


class State(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


def turn(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"name": n, "args": a, "id": f"m{i}", "type": "tool_call"}
            for i, (n, a) in enumerate(calls)
        ],
    )


@pytest.mark.slow
async def test_mcp_tools_pass_the_policy_and_the_ledger(runner: Runner, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    connection = {
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(SERVER), str(notes)],
    }
    tools = ToolRegistry()
    specs = await load_mcp_tools(
        tools, connection, tier="read", tiers={"add_note": "write", "erase_notes": "irreversible"}
    )
    assert [(s.name, s.tier.value) for s in specs] == [
        ("add_note", "write"),
        ("count_notes", "read"),
        ("erase_notes", "irreversible"),
    ]
    model = RecordingChatModel(
        responses=[
            turn(("add_note", {"text": "hello"}), ("erase_notes", {}), ("add_note", {})),
            turn(("count_notes", {})),
            AIMessage("one note"),
        ]
    )
    g = GraphBuilder("mcp", State, tools=tools, policy=ToolPolicy(tools={"erase_notes": "block"}))
    g.agent(
        "agent",
        model=model,
        model_name="m",
        tools=["add_note", "count_notes", "erase_notes"],
        prompt=lambda s: "take a note",
        answered=END,
    )
    g.edge(START, "agent")

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "completed"
    assert notes.read_text() == "hello\n"
    seen = [(m.tool_call_id, m.text) for m in model.seen[2] if isinstance(m, ToolMessage)]
    assert seen[0] == ("m0", '{"output":"noted hello"}')
    assert seen[1][1].startswith("Refused: the graph's policy blocks this call")
    assert seen[2][1].startswith("Error: invalid arguments for add_note: text: Field required")
    assert seen[3] == ("m0", '{"output":"1"}')
    effects = await runner.store.list_effects(outcome.run_id)
    assert [(e.tool, e.status) for e in effects] == [("add_note", "completed")]


@pytest.mark.slow
async def test_a_tier_for_a_tool_the_server_does_not_offer_is_refused(tmp_path: Path) -> None:
    connection = {"transport": "stdio", "command": sys.executable, "args": [str(SERVER), "x"]}
    with pytest.raises(DefinitionError, match=r"offers no tools \['send_mail'\]"):
        await load_mcp_tools(ToolRegistry(), connection, tier="read", tiers={"send_mail": "write"})
