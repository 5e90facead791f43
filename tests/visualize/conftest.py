"""Fixtures for the diagram tests: timed reference graphs, their runs, and text snapshots.

Snapshots are whole DOT and Mermaid files under ``tests/visualize/snapshots/``, compared
byte for byte. When a change to the pictures is intended, regenerate them with::

    RAILGRAPH_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/visualize

and review the diff of the snapshot files like any other change. Without that variable a
missing or different snapshot fails the test.

Runs are made on the shared ``runner`` fixture (a real SQLite file) with the suite's
``FakeTime`` clock and timer; the demo helpdesk, library and chat models below advance that
clock by fixed amounts, so every duration and timestamp in the text is the same on every run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult

from railgraph import RailGraph, Runner
from railgraph.graphs import refund, research
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs._library import Library
from railgraph.visualize import RunPath, path_from_events

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_ENV = "RAILGRAPH_UPDATE_SNAPSHOTS"
REFUND_REF = "railgraph.graphs.refund:graph"
RESEARCH_REF = "railgraph.graphs.research:graph"

Snapshot = Callable[[str, str], None]


def check_snapshot(name: str, text: str, *, update: bool) -> None:
    """Compare ``text`` with the snapshot file ``name`` byte for byte (or rewrite it)."""
    path = SNAPSHOTS / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        return
    assert path.exists(), f"no snapshot {name}; create it with {UPDATE_ENV}=1"
    expected = path.read_bytes().decode()
    assert text == expected, f"{name} changed; if intended, regenerate with {UPDATE_ENV}=1"


@pytest.fixture
def snapshot_checker() -> Callable[..., None]:
    """:func:`check_snapshot` itself, for tests of the snapshot check."""
    return check_snapshot


@pytest.fixture
def snapshot() -> Snapshot:
    """``snapshot(name, text)``: fail unless ``text`` is the stored snapshot ``name``."""
    update = os.environ.get(UPDATE_ENV) == "1"

    def check(name: str, text: str) -> None:
        check_snapshot(name, text, update=update)

    return check


class TimedHelpdesk(Helpdesk):
    """The demo helpdesk, where each call takes a fixed time on the fake clock."""

    def __init__(self, path: Path, advance: Callable[[float], None]) -> None:
        super().__init__(path)
        self.advance = advance

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        self.advance(0.12)
        return super().ticket(ticket_id)

    def invoice(self, invoice_id: str) -> dict[str, Any] | None:
        self.advance(0.08)
        return super().invoice(invoice_id)

    def create_refund(self, **kwargs: Any) -> dict[str, Any]:
        self.advance(0.35)
        return super().create_refund(**kwargs)

    def notify(self, **kwargs: Any) -> dict[str, Any]:
        self.advance(0.2)
        return super().notify(**kwargs)


class TimedLibrary(Library):
    """The demo library, where each search takes 0.25 s on the fake clock."""

    def __init__(self, path: Path, advance: Callable[[float], None]) -> None:
        super().__init__(path)
        self.advance = advance

    def search(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self.advance(0.25)
        return super().search(*args, **kwargs)


class TimedSupportModel(FakeMessagesListChatModel):
    """The refund graph's scripted model, taking 0.8 s a call on the fake clock."""

    advance: Any = None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.advance(0.8)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


class TimedResearcher(research.ScriptedResearcher):
    """The research graph's scripted model, taking 1.5 s a draft on the fake clock."""

    advance: Any = None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.advance(1.5)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def timed_refund(tmp_path: Path, advance: Callable[[float], None], **kwargs: Any) -> RailGraph:
    """The reference refund graph on a timed helpdesk and model."""
    reply = AIMessage(
        "refund",
        usage_metadata={"input_tokens": 120, "output_tokens": 2, "total_tokens": 122},
    )
    return refund.make_graph(
        model=TimedSupportModel(responses=[reply], advance=advance),
        model_name=refund.SCRIPTED_MODEL,
        helpdesk=TimedHelpdesk(tmp_path / "helpdesk.db", advance),
        **kwargs,
    )


@pytest.fixture
def refund_graph(tmp_path: Path, fake_time: Any, runner: Runner) -> RailGraph:
    """The refund graph, timed, registered on ``runner`` as ``railgraph.graphs.refund:graph``."""
    graph = timed_refund(tmp_path, fake_time.advance)
    runner.register(REFUND_REF, graph)
    return graph


@pytest.fixture
def research_graph(tmp_path: Path, fake_time: Any, runner: Runner) -> RailGraph:
    """The research graph, timed, registered on ``runner`` as
    ``railgraph.graphs.research:graph``."""
    graph = research.make_graph(
        model=TimedResearcher(advance=fake_time.advance),
        model_name=research.SCRIPTED_MODEL,
        library=TimedLibrary(tmp_path / "library.db", fake_time.advance),
    )
    runner.register(RESEARCH_REF, graph)
    return graph


@pytest.fixture
def read_path(runner: Runner) -> Callable[[RailGraph, str], Any]:
    """``await read_path(graph, run_id)``: the run's path rebuilt from the store."""

    async def read(graph: RailGraph, run_id: str) -> RunPath:
        record = await runner.store.get_run(run_id)
        assert record is not None
        events = await runner.store.list_events(run_id)
        approvals = await runner.store.list_approvals(run_id=run_id, status=None)
        return path_from_events(graph.spec, record, events, approvals)

    return read
