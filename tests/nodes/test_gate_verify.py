"""Verify gates: pass, retry with feedback, then escalate or fail; a verdict either way."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from railgraph import END, FAIL, START, GraphBuilder, RailGraph, Runner
from railgraph.verifiers import Predicate, RequiredFields

FEEDBACK = HumanMessage(
    "Your previous answer failed verification:\n- value: the answer must be 42\nTry again."
)


class Quiz(BaseModel):
    question: str = "6 x 7?"
    answer: str | None = None
    done: bool = False


IS_42 = Predicate(lambda v: v == "42", message="the answer must be 42", name="is_42")


def quiz(model: Any, *, failed: str = FAIL, max_retries: int = 1) -> RailGraph:
    g = GraphBuilder("quiz", Quiz)
    g.llm("ask", model=model, model_name="m", prompt=lambda s: s.question, output="answer")
    g.verify(
        "check",
        on="answer",
        checks=[IS_42],
        retry="ask",
        max_retries=max_retries,
        passed="finish",
        failed=failed,
    )
    g.step("finish", lambda s: {"done": True})
    g.edge(START, "ask").edge("ask", "check").edge("finish", END)
    if failed == "escalate":
        g.approve("escalate", approved="finish", rejected=END)
    return g.build()


async def verdicts(runner: Runner, run_id: str) -> list[dict[str, Any]]:
    events = await runner.store.list_events(run_id)
    return [e.data for e in events if e.kind == "verdict"]


async def test_pass_goes_on(runner: Runner, chat: Any, dims: Any) -> None:
    model = chat(("42", 5, 1))

    outcome = await runner.start(quiz(model), {})

    assert outcome.status == "completed"
    assert outcome.result == {"question": "6 x 7?", "answer": "42", "done": True}
    assert dims(outcome.usage)["retries"] == 0
    assert dims(outcome.usage)["steps"] == 3
    (verdict,) = await verdicts(runner, outcome.run_id)
    assert verdict == {
        "outcome": "pass",
        "attempt": 1,
        "verdicts": [{"verifier": "is_42", "passed": True, "failures": []}],
    }
    assert len(model.seen) == 1


async def test_fail_then_retry_with_feedback_then_pass(runner: Runner, chat: Any) -> None:
    model = chat(("41", 5, 1), ("42", 30, 1))

    outcome = await runner.start(quiz(model), {})

    assert outcome.status == "completed"
    assert outcome.result["answer"] == "42"
    assert outcome.result["done"] is True
    assert (outcome.usage["retries"], outcome.usage["llm_calls"], outcome.usage["steps"]) == (
        1,
        2,
        5,
    )
    assert outcome.usage["tokens"] == 37
    # the retried node gets the failures appended to its prompt
    assert model.seen == [
        [HumanMessage("6 x 7?")],
        [HumanMessage("6 x 7?"), FEEDBACK],
    ]
    assert [(v["outcome"], v["attempt"]) for v in await verdicts(runner, outcome.run_id)] == [
        ("retry", 1),
        ("pass", 2),
    ]
    events = await runner.store.list_events(outcome.run_id)
    path = [e.node for e in events if e.kind == "node_finished"]
    assert path == ["ask", "check", "ask", "check", "finish"]
    checks = [e.data["outcome"] for e in events if e.kind == "node_finished" and e.node == "check"]
    assert checks == ["retry", "pass"]


async def test_feedback_is_sent_once_only(runner: Runner, chat: Any) -> None:
    """After a pass, a later visit to the retried node gets no stale feedback."""
    model = chat(("41", 1, 1), ("42", 1, 1), ("42", 1, 1))
    g = GraphBuilder("twice", Quiz)
    g.llm("ask", model=model, model_name="m", prompt=lambda s: s.question, output="answer")
    g.verify("check", on="answer", checks=[IS_42], retry="ask", passed="again", failed=FAIL)
    g.route("again", lambda s: "stop" if s.done else "loop", targets={"stop": END, "loop": "mark"})
    g.step("mark", lambda s: {"done": True})
    g.edge(START, "ask").edge("ask", "check").edge("mark", "ask")

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "completed"
    assert [len(m) for m in model.seen] == [1, 2, 1]


async def test_retries_exhausted_then_fail_gives_failed_with_reason(
    runner: Runner, chat: Any
) -> None:
    model = chat(("41", 1, 1), ("43", 1, 1))

    outcome = await runner.start(quiz(model), {})

    assert outcome.status == "failed"
    assert outcome.reason == "verification failed at 'check': value: the answer must be 42"
    assert outcome.result["answer"] == "43"
    assert outcome.result["done"] is False
    assert (outcome.usage["retries"], outcome.usage["llm_calls"]) == (1, 2)
    assert [(v["outcome"], v["attempt"]) for v in await verdicts(runner, outcome.run_id)] == [
        ("retry", 1),
        ("fail", 2),
    ]
    failed = (await verdicts(runner, outcome.run_id))[-1]["verdicts"][0]
    assert failed["passed"] is False
    assert failed["failures"][0]["message"] == "the answer must be 42"
    record = await runner.store.get_run(outcome.run_id)
    assert record is not None
    assert (record.status, record.error) == ("failed", outcome.reason)


async def test_max_retries_counts_reruns(runner: Runner, chat: Any) -> None:
    model = chat(("1", 1, 1), ("2", 1, 1), ("3", 1, 1), ("42", 1, 1))

    outcome = await runner.start(quiz(model, max_retries=3), {})

    assert outcome.status == "completed"
    assert len(model.seen) == 4
    assert outcome.usage["retries"] == 3


async def test_without_retries_the_first_failure_fails(runner: Runner, chat: Any) -> None:
    model = chat(("41", 1, 1))

    outcome = await runner.start(quiz(model, max_retries=0), {})

    assert outcome.status == "failed"
    assert len(model.seen) == 1
    assert outcome.usage.get("retries", 0) == 0


async def test_retries_exhausted_escalate_to_an_approve_gate(runner: Runner, chat: Any) -> None:
    model = chat(("41", 1, 1), ("40", 1, 1))

    paused = await runner.start(quiz(model, failed="escalate"), {})

    assert paused.status == "paused"
    assert paused.reason == "escalate: verification failed: value: the answer must be 42"
    (request,) = paused.pending
    assert request.node == "escalate"
    assert request.request["action"] is None
    assert [f["message"] for f in request.request["failures"]] == ["the answer must be 42"]
    assert request.request["path"] == ["ask", "check", "ask", "check"]
    assert request.request["spend"]["retries"] == 1

    outcome = await runner.approve(paused.run_id, by="ann")

    assert outcome.status == "completed"
    assert outcome.result == {"question": "6 x 7?", "answer": "40", "done": True}
    assert len(model.seen) == 2


async def test_escalation_rejected_ends_rejected(runner: Runner, chat: Any) -> None:
    model = chat(("41", 1, 1), ("40", 1, 1))
    paused = await runner.start(quiz(model, failed="escalate"), {})

    outcome = await runner.reject(paused.run_id, by="ann", reason="wrong twice")

    assert outcome.status == "rejected"
    assert outcome.reason == "rejected by ann: wrong twice"
    assert outcome.result["done"] is False


async def test_verify_on_a_function_of_the_state(runner: Runner) -> None:
    class Order(BaseModel):
        order: dict[str, Any] | None = None

    g = GraphBuilder("orders", Order)
    g.step("load", lambda s: {"order": {"id": "A-1", "sku": ""}})
    g.verify(
        "complete",
        on=lambda s: s.order,
        checks=[RequiredFields("id", "sku")],
        passed=END,
        failed=FAIL,
    )
    g.edge(START, "load").edge("load", "complete")

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "verification failed at 'complete': sku: sku is blank (''); it must have a value"
    )
