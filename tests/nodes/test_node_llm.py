"""LLM nodes: the reply is stored (or parsed), tokens and cost are accounted, feedback is sent."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, RailGraph, Runner
from railgraph.nodes import ModelPrice, PriceTable


class Chat(BaseModel):
    question: str = "what is 6 x 7?"
    answer: Any = None


PRICES = PriceTable(prices={"priced-model": ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)})


def ask_graph(model: Any, **llm: Any) -> RailGraph:
    g = GraphBuilder("ask", Chat, prices=PRICES)
    llm.setdefault("prompt", lambda s: s.question)
    g.llm("ask", model=model, output="answer", **llm)
    g.edge(START, "ask").edge("ask", END)
    return g.build()


async def test_reply_text_is_stored_and_priced(runner: Runner, chat: Any, dims: Any) -> None:
    model = chat(("42", 1000, 200))

    outcome = await runner.start(ask_graph(model, model_name="priced-model"), {})

    assert outcome.status == "completed"
    assert outcome.result == {"question": "what is 6 x 7?", "answer": "42"}
    assert dims(outcome.usage) == {
        "steps": 1,
        "llm_calls": 1,
        "tool_calls": 0,
        "tokens": 1200,
        "cost_usd": 0.006,
        "wall_s": 0.0,
        "retries": 0,
    }
    assert outcome.usage["input_tokens"] == 1000
    assert outcome.usage["output_tokens"] == 200
    assert model.seen == [[HumanMessage("what is 6 x 7?")]]
    events = await runner.store.list_events(outcome.run_id)
    assert [e.kind for e in events] == [
        "run_started",
        "llm_call",
        "node_finished",
        "run_finished",
    ]
    assert events[1].node == "ask"
    assert events[1].data == {
        "model": "priced-model",
        "input_tokens": 1000,
        "output_tokens": 200,
        "cost_usd": 0.006,
        "priced": True,
        "latency_ms": 0.0,
        "tool_calls": [],
    }
    assert events[2].data["kind"] == "llm"
    assert events[2].data["usage"]["tokens"] == 1200


async def test_unpriced_model_costs_nothing_and_says_so(runner: Runner, chat: Any) -> None:
    model = chat(("hello", 50, 7))

    outcome = await runner.start(ask_graph(model), {})

    assert outcome.status == "completed"
    # Nothing spent in dollars, so no cost is kept (usage keeps only what was spent).
    assert ("cost_usd" in outcome.usage, outcome.usage["tokens"]) == (False, 57)
    events = await runner.store.list_events(outcome.run_id)
    (call,) = [e for e in events if e.kind == "llm_call"]
    # without model_name= the model's own type names it; it is not in the price table
    assert call.data["model"] == "fake-messages-list-chat-model"
    assert call.data["priced"] is False
    assert call.data["cost_usd"] == 0.0


async def test_parse_turns_the_reply_into_the_stored_value(runner: Runner, chat: Any) -> None:
    model = chat(("  Forty-Two ", 3, 2))

    def parse(message: AIMessage) -> str:
        return message.text.strip().lower()

    outcome = await runner.start(ask_graph(model, parse=parse), {})

    assert outcome.result["answer"] == "forty-two"


async def test_parse_to_a_model_is_stored_as_json_data(runner: Runner, chat: Any) -> None:
    class Answer(BaseModel):
        value: int
        unit: str

    model = chat(("42 apples", 3, 2))

    def parse(message: AIMessage) -> Answer:
        number, unit = message.text.split()
        return Answer(value=int(number), unit=unit)

    outcome = await runner.start(ask_graph(model, parse=parse), {})

    assert outcome.result["answer"] == {"value": 42, "unit": "apples"}


async def test_prompt_as_message_list_reaches_the_model(runner: Runner, chat: Any) -> None:
    model = chat(("ok", 1, 1))

    def prompt(state: Chat) -> list[Any]:
        return [SystemMessage("Be brief."), HumanMessage(state.question)]

    await runner.start(ask_graph(model, prompt=prompt), {"question": "why?"})

    assert model.seen == [[SystemMessage("Be brief."), HumanMessage("why?")]]


async def test_reply_tool_calls_are_recorded(runner: Runner, chat: Any) -> None:
    model = chat(("", 4, 4))
    model.responses = [
        AIMessage(
            "",
            tool_calls=[{"name": "lookup", "args": {"id": 7}, "id": "call-1"}],
            usage_metadata={"input_tokens": 4, "output_tokens": 4, "total_tokens": 8},
        )
    ]

    outcome = await runner.start(ask_graph(model), {})

    events = await runner.store.list_events(outcome.run_id)
    (call,) = [e for e in events if e.kind == "llm_call"]
    assert call.data["tool_calls"] == [{"name": "lookup", "args": {"id": 7}}]


async def test_total_tokens_from_usage_metadata_win(runner: Runner, chat: Any) -> None:
    model = chat(("x", 1, 1))
    # a provider that counts cached or reasoning tokens into the total
    model.responses = [
        AIMessage("x", usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 40})
    ]

    outcome = await runner.start(ask_graph(model, model_name="priced-model"), {})

    assert outcome.usage["tokens"] == 40
    assert outcome.usage["input_tokens"] == 10
    assert outcome.usage["output_tokens"] == 5
    assert outcome.usage["cost_usd"] == (10 * 3.0 + 5 * 15.0) / 1e6


async def test_reply_without_usage_metadata_counts_a_call_and_no_tokens(
    runner: Runner, chat: Any, dims: Any
) -> None:
    model = chat(("x", 1, 1))
    model.responses = [AIMessage("plain")]

    outcome = await runner.start(ask_graph(model, model_name="priced-model"), {})

    assert outcome.result["answer"] == "plain"
    usage = dims(outcome.usage)
    assert (usage["llm_calls"], usage["tokens"], usage["cost_usd"]) == (1, 0, 0.0)
