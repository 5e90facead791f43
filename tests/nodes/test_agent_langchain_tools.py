"""LangChain tools registered with a tier run on the same rails as railgraph tools."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, tool
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field, ValidationError

from railgraph import END, START, DefinitionError, GraphBuilder, Runner
from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph.nodes._lc_tools import model_from_json_schema
from tests.conftest import RecordingChatModel

sent: list[str] = []


class State(BaseModel):
    messages: Annotated[list[AnyMessage], add_messages] = Field(default_factory=list)


@tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


class WireArgs(BaseModel):
    account: str
    amount: float = Field(gt=0)


def _wire(account: str, amount: float) -> dict[str, Any]:
    sent.append(f"{account}:{amount:g}")
    return {"wired": amount}


wire = StructuredTool.from_function(
    _wire, name="wire", args_schema=WireArgs, description="Wire money."
)


class Shout(BaseTool):
    name: str = "shout"
    description: str = "Shout a word."

    def _run(self, word: str) -> str:
        return word.upper()


def turn(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"name": n, "args": a, "id": f"k{i}", "type": "tool_call"}
            for i, (n, a) in enumerate(calls)
        ],
    )


def graph(model: RecordingChatModel) -> Any:
    tools = ToolRegistry()
    tools.register_langchain(weather, tier="read")
    tools.register_langchain(wire, tier="irreversible")
    tools.register_langchain(Shout(), tier="read")
    g = GraphBuilder("lc", State, tools=tools, policy=ToolPolicy())
    g.agent(
        "agent",
        model=model,
        model_name="m",
        tools=["weather", "wire", "shout"],
        prompt=lambda s: "go",
        answered=END,
    )
    g.edge(START, "agent")
    return g.build()


async def test_tool_function_base_tool_and_structured_tool_pass_the_rails(runner: Runner) -> None:
    sent.clear()
    model = RecordingChatModel(
        responses=[
            turn(
                ("weather", {"city": "Oslo"}),
                ("shout", {"word": "hi"}),
                ("wire", {"account": "A-1", "amount": 70}),
                ("weather", {"town": "Oslo"}),
            ),
            AIMessage("done"),
        ]
    )
    paused = await runner.start(graph(model), {})

    # The irreversible StructuredTool waits for a person under the default tier policy.
    assert paused.status == "paused"
    assert sent == []
    assert paused.pending[0].request["action"]["tool"] == "wire"

    done = await runner.approve(paused.run_id, by="ann", edit={"amount": 50})

    assert done.status == "completed"
    assert sent == ["A-1:50"]
    seen = [(m.tool_call_id, m.text) for m in model.seen[1] if isinstance(m, ToolMessage)]
    assert seen[0] == ("k0", '{"output":"sunny in Oslo"}')
    assert seen[1] == ("k1", '{"output":"HI"}')
    assert seen[2][1].startswith("A reviewer (ann) edited your call before it ran: it ran with ")
    assert seen[2][1].endswith('Result: {"output":{"wired":50.0}}')
    assert seen[3][0] == "k3"
    assert seen[3][1].startswith("Error: invalid arguments for weather: city: Field required")


def test_json_schema_tools_get_a_strict_model() -> None:
    model = model_from_json_schema(
        "add_note",
        {
            "type": "object",
            "properties": {"text": {"type": "string"}, "pin": {"type": "boolean"}},
            "required": ["text"],
        },
    )
    assert model.model_validate({"text": "x"}).model_dump() == {"text": "x", "pin": None}
    with pytest.raises(ValidationError):
        model.model_validate({"text": "x", "colour": "red"})
    with pytest.raises(ValidationError):
        model.model_validate({"pin": True})


def test_a_plain_function_is_not_a_langchain_tool() -> None:
    with pytest.raises(DefinitionError, match="is not a LangChain tool"):
        ToolRegistry().register_langchain(_wire, tier="read")
