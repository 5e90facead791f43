"""What the pages show, gathered from the runner's store: the queue's cards, a run, a graph.

Filters and paging live here, so pages and tests share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from railgraph._cli_app import pending_json
from railgraph._graph import RailGraph
from railgraph._report import trace
from railgraph._spec import GraphSpec
from railgraph.checkpointers import ApprovalRecord, RunRecord
from railgraph.errors import RailgraphError
from railgraph.nodes import ToolSpec
from railgraph.visualize import timeline_of
from railgraph.vocab import ApprovalStatus, NodeEventKind
from railgraph.web._forms import EditForm, edit_form
from railgraph.web._state import WebState

__all__ = [
    "AGES",
    "Card",
    "Page",
    "QueueFilter",
    "card",
    "cards",
    "graph_of",
    "paged",
    "run_view",
    "tool_of",
]

AGES: dict[str, tuple[str, float]] = {
    "": ("any age", 0.0),
    "5m": ("waiting 5 minutes or more", 300.0),
    "1h": ("waiting an hour or more", 3600.0),
    "1d": ("waiting a day or more", 86400.0),
}
"""The queue's age filter: key → (label, seconds waited at least)."""


@dataclass(frozen=True)
class Page:
    """One page of a longer list."""

    items: list[Any]
    """What this page shows."""
    number: int
    """The page's number, from 1."""
    has_next: bool
    """Whether a further page exists."""
    total: int
    """How many items there are in all."""


def paged(items: Sequence[Any], number: int, size: int) -> Page:
    """Cut ``items`` into pages of ``size`` and return page ``number`` (from 1)."""
    number = max(1, number)
    start = (number - 1) * size
    return Page(list(items[start : start + size]), number, start + size < len(items), len(items))


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters, as read from the page's query string."""

    graph: str = ""
    gate: str = ""
    risk: str = ""
    age: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> QueueFilter:
        """The filters in a query string (unknown ages count as any age)."""
        age = query.get("age", "")
        return cls(
            graph=query.get("graph", "").strip(),
            gate=query.get("gate", "").strip(),
            risk=query.get("risk", "").strip(),
            age=age if age in AGES else "",
        )

    def keep(self, request: ApprovalRecord, now: float) -> bool:
        """Whether a pending request passes the filters."""
        action = request.request.get("action") or {}
        return (
            (not self.graph or self.graph in (request.request.get("graph"), request.graph))
            and (not self.gate or request.node == self.gate)
            and (not self.risk or action.get("tier") == self.risk)
            and (not self.age or now - request.created_at >= AGES[self.age][1])
        )


@dataclass(frozen=True)
class Card:
    """One review request as the queue and the run page show it."""

    request: dict[str, Any]
    """The request in the shape of ``railgraph pending --json``."""
    record: ApprovalRecord
    """The stored request."""
    form: EditForm | None = None
    """The edit form from the tool's input schema; ``None`` when nothing can be edited."""
    svg: str | None = None
    """The run drawn on its graph, the waiting node marked."""
    no_svg: str | None = None
    """Why there is no drawing."""
    conversation: list[dict[str, Any]] = field(default_factory=list)
    """The recent turns of an agent loop's conversation, when the request carries them."""
    error: str | None = None
    """Why the last decision on this card was refused."""
    reason_error: str | None = None
    """Why the last rejection was refused (shown by the reason field)."""
    result_fields: tuple[str, ...] = ()
    """For an effect a crash left unknown: the fields of the tool's output schema."""


def graph_of(state: WebState, ref: str) -> RailGraph | None:
    """The graph stored under ``ref``, if it can be imported here."""
    try:
        return state.runner.graph(ref)[1]
    except RailgraphError:
        return None


def tool_of(rail: RailGraph | None, action: Mapping[str, Any]) -> ToolSpec | None:
    """The registered tool a request's action calls, if the graph declares it."""
    name = action.get("tool")
    if rail is None or not isinstance(name, str) or name not in rail.tools:
        return None
    return rail.tools[name]


def _conversation(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    turns = request.get("conversation") or request.get("messages") or []
    if not isinstance(turns, list):
        return []
    return [t if isinstance(t, dict) else {"role": "", "content": str(t)} for t in turns[-6:]]


async def card(
    state: WebState,
    approval: ApprovalRecord,
    *,
    form: EditForm | None = None,
    error: str | None = None,
    reason_error: str | None = None,
) -> Card:
    """A request's card: its details, its edit form, and its run drawn on the graph."""
    store = state.runner.store
    action = approval.request.get("action") or {}
    rail = graph_of(state, approval.graph)
    tool = tool_of(rail, action)
    unknown = approval.request.get("kind") == "unknown_effect"
    if form is None and tool is not None and not unknown:
        form = edit_form(tool.input, action.get("args") or {})
    fields = tuple(tool.output.model_fields) if tool is not None and unknown else ()
    svg: str | None = None
    why: str | None = "the graph cannot be imported here, so its diagram cannot be drawn"
    record = await store.get_run(approval.run_id)
    if rail is not None and record is not None:
        events = await store.list_events(record.run_id)
        approvals = await store.list_approvals(run_id=record.run_id, status=None)
        svg, why = await state.drawings.run(rail.spec, record, events, approvals)
    return Card(
        request=pending_json(approval),
        record=approval,
        form=form,
        svg=svg,
        no_svg=why,
        conversation=_conversation(approval.request),
        error=error,
        reason_error=reason_error,
        result_fields=fields,
    )


async def cards(state: WebState, approvals: Sequence[ApprovalRecord]) -> list[Card]:
    """The cards of several requests, in order."""
    return [await card(state, a) for a in approvals]


async def run_view(state: WebState, record: RunRecord) -> dict[str, Any]:
    """What the run page shows: the trace, the timeline, the diagram and pending requests."""
    store = state.runner.store
    events = await store.list_events(record.run_id)
    approvals = await store.list_approvals(run_id=record.run_id, status=None)
    rail = graph_of(state, record.graph)
    spec: GraphSpec | None = rail.spec if rail is not None else None
    svg: str | None = None
    why: str | None = "the graph cannot be imported here, so its diagram cannot be drawn"
    if spec is not None:
        svg, why = await state.drawings.run(spec, record, events, approvals)
    return {
        "run": record,
        "report": trace(record, events, approvals),
        "timeline": timeline_of(events),
        "svg": svg,
        "no_svg": why,
        "verdicts": [e for e in events if e.kind == NodeEventKind.VERDICT],
        "pending": [a for a in approvals if a.status == ApprovalStatus.PENDING],
    }
