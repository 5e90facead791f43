"""The reference research agent: a loop with a verify retry that ends at its cost envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from railgraph import RailGraph, Runner
from railgraph._report import path_of
from railgraph.graphs._library import Library
from railgraph.graphs.research import COST_PER_DRAFT, make_graph

ROUND = ["retrieve", "collect", "summarize", "verify_citations"]


@pytest.fixture
def graph(tmp_path: Path) -> RailGraph:
    return make_graph(library=Library(tmp_path / "library.db"))


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with Runner.open(tmp_path / "railgraph.db") as opened:
        yield opened


async def test_loops_until_the_cost_envelope_stops_it_with_a_partial_result(
    runner: Runner, graph: RailGraph
) -> None:
    outcome = await runner.start(graph, {"question": "how do agents resume after a crash"})

    assert outcome.status == "budget_exhausted"
    assert outcome.reason == "cost_usd: 0.0315 of 0.035 used, 0.0105 more needed"
    assert outcome.result["summary"] == (
        "Round 1: finding [D-1]. finding [D-2].\nRound 2: finding [D-5]. finding [D-3]."
    )
    assert outcome.usage["llm_calls"] == 3
    assert outcome.usage["cost_usd"] == pytest.approx(3 * COST_PER_DRAFT)
    events = await runner.store.list_events(outcome.run_id)
    assert path_of(events) == [
        *ROUND,
        "keep",
        "budget",
        "enough",
        *ROUND,
        "summarize",
        "verify_citations",
        "keep",
        "budget",
    ]
    verdicts = [e.data["outcome"] for e in events if e.kind == "verdict"]
    assert verdicts == ["pass", "retry", "pass"]
    [retry] = [e for e in events if e.kind == "verdict" and e.data["outcome"] == "retry"]
    failures = [f for v in retry.data["verdicts"] for f in v["failures"]]
    assert [(f["path"], f["message"]) for f in failures] == [
        ("draft", "the draft cites a document that was not retrieved")
    ]


async def test_one_round_completes_within_budget(runner: Runner, graph: RailGraph) -> None:
    outcome = await runner.start(graph, {"question": "approval queues", "max_rounds": 1})

    assert outcome.status == "completed"
    assert outcome.result["round"] == 1
    assert [d["doc_id"] for d in outcome.result["documents"]] == ["D-4", "D-1"]


async def test_state_is_stored_as_plain_data(runner: Runner, graph: RailGraph) -> None:
    outcome = await runner.start(graph, {"question": "budgets", "max_rounds": 1})

    [latest] = [
        c
        async for c in runner.saver.alist({"configurable": {"thread_id": outcome.run_id}}, limit=1)
    ]
    documents = latest.checkpoint["channel_values"]["documents"]
    assert documents and all(type(d) is dict for d in documents)
