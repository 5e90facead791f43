"""The words that cross package boundaries, each typed once.

A leaf module: it imports nothing of the project, and every package imports it. Each
vocabulary is a :class:`enum.StrEnum` whose values are the strings stored in databases and
JSON, so rows written before these types existed read unchanged, and code that still compares
with a string literal keeps working.

- :class:`RunStatus` (with :data:`ENDED`), :class:`ApprovalStatus` (with :data:`DELIVERABLE`),
  :class:`EffectStatus` and :class:`DecisionKind`: where runs, review requests and effects
  stand, and what a reviewer answers.
- :class:`NodeKind` and the terminal node ids :data:`START_ID`, :data:`END_ID`,
  :data:`FAIL_ID`.
- :class:`RunEventKind` and :class:`NodeEventKind`: the two groups of event kinds, disjoint by
  construction (importing this module fails if a value is in both), with a payload type per
  kind; :func:`event_kind` says which kind a stored event is, recognising what older
  releases wrote.
- :class:`ShownNumber` and :func:`shown`: how numbers that JSON has no form for (NaN and the
  infinities) are shown to people, in the review queue, events, the CLI and the web app.

Values put into checkpointed state must be plain strings (the checkpoint serializer stores an
enum member by its class path): write ``kind.value`` there, or pass data through ``plain``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, NotRequired, TypedDict

__all__ = [
    "DELIVERABLE",
    "ENDED",
    "END_ID",
    "FAIL_ID",
    "START_ID",
    "TERMINAL_IDS",
    "ToolCallStatus",
    "AgentCallData",
    "AgentCallOutcome",
    "AgentCallStatus",
    "AgentTool",
    "AgentTurnData",
    "ApprovalDecidedData",
    "ApprovalRequestedData",
    "ApprovalStatus",
    "CANCEL_DECISION",
    "BudgetCheckData",
    "BudgetExhaustedData",
    "DecisionKind",
    "EffectReviewedData",
    "EffectStatus",
    "EventKind",
    "GateOutcome",
    "InboxResponse",
    "LlmCallData",
    "NodeEventKind",
    "NodeFinishedData",
    "NodeKind",
    "NodeMeta",
    "NodeStartedData",
    "ReviewKind",
    "RouteData",
    "RunCancelledData",
    "RunEventKind",
    "RunFailedData",
    "RunFinishedData",
    "RunStartedData",
    "RunStatus",
    "ShownNumber",
    "ToolCallData",
    "VerdictData",
    "event_kind",
    "shown",
    "superseded",
]


# -- statuses ------------------------------------------------------------------------------


class RunStatus(StrEnum):
    """Where a run stands; all but ``running`` and ``paused`` are final (see :data:`ENDED`)."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    BUDGET_EXHAUSTED = "budget_exhausted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


ENDED: Final = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.BUDGET_EXHAUSTED,
        RunStatus.REJECTED,
        RunStatus.CANCELLED,
    }
)
"""The final run statuses: a run in one of them never moves again."""


class ApprovalStatus(StrEnum):
    """Where a review request stands; only ``pending`` can still be decided."""

    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    HAPPENED = "happened"


DELIVERABLE: Final = frozenset(
    {
        ApprovalStatus.APPROVED,
        ApprovalStatus.EDITED,
        ApprovalStatus.REJECTED,
        ApprovalStatus.EXPIRED,
        ApprovalStatus.HAPPENED,
    }
)
"""Statuses of a review request whose decision the run is still to receive."""


class EffectStatus(StrEnum):
    """Where one side effect of a tool call stands in the ledger."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


class DecisionKind(StrEnum):
    """What a reviewer (or railgraph, for an expiry) answers a review request with."""

    APPROVE = "approve"
    """Go ahead as proposed."""
    EDIT = "edit"
    """Go ahead with edited arguments."""
    REJECT = "reject"
    """Do not go ahead."""
    EXPIRE = "expire"
    """Nobody decided in time (taken by railgraph only)."""
    HAPPENED = "happened"
    """An effect a crash left unknown did happen, with the result observed."""

    @property
    def approves(self) -> bool:
        """Whether the action may go ahead."""
        return self in (DecisionKind.APPROVE, DecisionKind.EDIT)

    @property
    def status(self) -> ApprovalStatus:
        """The status the review request takes with this decision."""
        return _DECIDED[self]


CANCEL_DECISION: Final = "cancel"
"""The decision recorded on the requests a cancel closed (status ``cancelled``); no
reviewer can give it, so it is no :class:`DecisionKind`."""

_DECIDED: Final = {
    DecisionKind.APPROVE: ApprovalStatus.APPROVED,
    DecisionKind.EDIT: ApprovalStatus.EDITED,
    DecisionKind.REJECT: ApprovalStatus.REJECTED,
    DecisionKind.EXPIRE: ApprovalStatus.EXPIRED,
    DecisionKind.HAPPENED: ApprovalStatus.HAPPENED,
}


class ToolCallStatus(StrEnum):
    """How one attempt of a tool call ended, as its ``tool_call`` event says."""

    OK = "ok"
    RECOVERED = "recovered"
    """Sent again after a crash left an earlier attempt's outcome unknown, and succeeded."""
    REPLAYED = "replayed"
    """Answered from the ledger: the effect had completed before."""
    REPORTED = "reported"
    """A person said the effect happened, with the result observed."""
    ERROR = "error"
    TIMEOUT = "timeout"
    TRANSIENT_ERROR = "transient_error"


class ReviewKind(StrEnum):
    """What a review request asks."""

    APPROVAL = "approval"
    """May the action run?"""
    UNKNOWN_EFFECT = "unknown_effect"
    """A crash left the outcome of this call unknown: send it again, did it happen, or stop?"""


class InboxResponse(StrEnum):
    """Agent Inbox's answers to an interrupt (a *HumanResponse*'s ``type``), which a graph
    served by LangGraph's server takes as decisions."""

    ACCEPT = "accept"
    """Approve as proposed."""
    EDIT = "edit"
    """Approve with the arguments changed."""
    RESPONSE = "response"
    """Reject, the text being the reason."""
    IGNORE = "ignore"
    """Skip: refused, a review is never skipped silently."""


# -- numbers people read -------------------------------------------------------------------


class ShownNumber(StrEnum):
    """How a number that JSON has no form for is shown to people: as a JSON string.

    A run keeps such a number exactly (its checkpointed state, the call a tool receives);
    what people read — review requests in the queue, events, the CLI, the web page and API —
    shows it as one of these strings, never as ``null``, and stays valid JSON.
    """

    NAN = "NaN"
    INFINITY = "Infinity"
    MINUS_INFINITY = "-Infinity"


def shown(value: Any) -> Any:
    """``value`` as people are shown it: every NaN or infinity as its :class:`ShownNumber`
    string (a plain ``str``).

    Dicts, lists and tuples are copied (tuples become lists, as in JSON); every other value
    is returned as it is. Applying it twice changes nothing, and two values compared in this
    form compare as a reviewer reads them: NaN equals NaN.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return ShownNumber.NAN.value
        return (ShownNumber.INFINITY if value > 0 else ShownNumber.MINUS_INFINITY).value
    if isinstance(value, Mapping):
        return {key: shown(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [shown(item) for item in value]
    return value


# -- nodes ---------------------------------------------------------------------------------


class NodeKind(StrEnum):
    """What a node is; the builder, the checks and the diagrams all switch on it."""

    START = "start"
    END = "end"
    STEP = "step"
    LLM = "llm"
    TOOL = "tool"
    ROUTE = "route"
    VERIFY = "verify"
    BUDGET = "budget"
    APPROVE = "approve"
    AGENT = "agent"


class GateOutcome(StrEnum):
    """The named outcomes of the three gates; each becomes an edge labelled with it."""

    PASS = "pass"
    """verify: the checks passed."""
    RETRY = "retry"
    """verify: run the named node again with the failures as feedback."""
    FAIL = "fail"
    """verify: the checks failed and no retry is left."""
    WITHIN = "within"
    """budget: usage (plus what is reserved) fits the envelope."""
    EXCEEDED = "exceeded"
    """budget: it does not."""
    APPROVED = "approved"
    """approve: a person approved (possibly with edits)."""
    REJECTED = "rejected"
    """approve: a person rejected (or nobody decided in time, without ``expired`` wired)."""
    EXPIRED = "expired"
    """approve: nobody decided in time."""
    ANSWERED = "answered"
    """agent: the model answered without tool calls."""
    CONTINUE = "continue"
    """agent: its own loop; the next model turn, or the calls of the last one."""
    OUT_OF_TURNS = "out_of_turns"
    """agent: ``max_turns`` reached without an answer."""
    ESCALATED = "escalated"
    """agent: a tool's results kept failing verification."""


START_ID: Final = "__start__"
"""The id of the node every run starts from (LangGraph's START)."""
END_ID: Final = "__end__"
"""The id of the terminal that ends a run normally (LangGraph's END)."""
FAIL_ID: Final = "__fail__"
"""The id of the terminal that ends a run ``failed`` (drawn as its own terminal)."""
TERMINAL_IDS: Final = frozenset({START_ID, END_ID, FAIL_ID})
"""Node ids that name no author node."""


class NodeMeta(TypedDict, total=False):
    """What a spec records of a node beside its id and kind (``NodeSpec.meta``); the nodes
    write it, the checks, diagrams and graph diffs read it. Every key is optional."""

    tool: str | None
    """tool: the tool it calls; approve: the tool of the call under review."""
    output: str | None
    """tool and llm: the state field the result goes to."""
    tier: str
    """tool: the tool's risk tier."""
    policy: str
    """tool: what the graph's policy says of the tool."""
    timeout_s: float
    """tool: seconds before a call times out."""
    retries: int
    """tool: retries of transient failures."""
    model: str
    """llm: the model's name."""
    on: str
    """verify: the state field (or the name of the function) checked."""
    checks: list[str]
    """verify: the verifiers' names."""
    retry: str | None
    """verify: the node run again with the failures as feedback."""
    max_retries: int
    """verify: how many times ``retry`` runs again."""
    needs: dict[str, float]
    """budget: what the rest of the graph must still be able to spend."""
    envelope: dict[str, float]
    """budget: the graph's budget envelope."""
    action: str | None
    """approve: the tool node whose call is under review."""
    reviewers: list[str]
    """approve: who may decide; anyone when empty."""
    expires_after_s: float
    """approve: seconds until an undecided request expires."""
    messages: str
    """agent: the state field holding the conversation."""
    max_turns: int
    """agent: model turns before ``out_of_turns``."""
    tools: list[AgentTool]
    """agent: the tools the model may call, each with its tier and policy."""
    status: str
    """a terminal: the run status reaching it ends the run with (``failed``)."""


class AgentTool(TypedDict):
    """One tool of an agent in its :class:`NodeMeta`."""

    name: str
    tier: str
    policy: str
    verifiers: list[str]
    rule: str | None


# -- events --------------------------------------------------------------------------------


class RunEventKind(StrEnum):
    """Events about the run as a whole, written by the runner and the store."""

    RUN_STARTED = "run_started"
    """The run was created (payload :class:`RunStartedData`)."""
    RUN_FINISHED = "run_finished"
    """The run reached its end (payload :class:`RunFinishedData`)."""
    RUN_FAILED = "run_failed"
    """The run failed (payload :class:`RunFailedData`)."""
    BUDGET_EXHAUSTED = "budget_exhausted"
    """The runtime refused work over the envelope, so the run ended (payload
    :class:`BudgetExhaustedData`). Once a node-level event too: see :func:`event_kind`."""
    RUN_CANCELLED = "run_cancelled"
    """A person cancelled the run (payload :class:`RunCancelledData`)."""
    CANCEL_SETTLED = "cancelled"
    """The driver of a cancelled run stopped it (payload :class:`RunFailedData`)."""
    TRACE_EXPORTED = "trace_exported"
    """The telemetry exporter sent the run's events up to here as one trace segment."""


class NodeEventKind(StrEnum):
    """Events about what one node did; each names its node."""

    NODE_STARTED = "node_started"
    NODE_FINISHED = "node_finished"
    TOOL_CALL = "tool_call"
    LLM_CALL = "llm_call"
    VERDICT = "verdict"
    BUDGET_CHECK = "budget_check"
    ROUTE = "route"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    EFFECT_REVIEWED = "effect_reviewed"
    AGENT_TURN = "agent_turn"
    """An agent's model took a turn, or an agent ran out of turns."""
    AGENT_CALL = "agent_call"
    """A call an agent's model chose, with what became of it."""


class AgentCallStatus(StrEnum):
    """What became of a call an agent's model chose, as its ``agent_call`` event says."""

    OK = "ok"
    NEEDS_APPROVAL = "needs_approval"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    ERROR = "error"


class AgentCallOutcome(StrEnum):
    """How a call an agent's model chose was settled: the ``decision`` of its ``agent_call``
    event, and the outcome recorded on the answer the model got."""

    OK = "ok"
    """Ran under the policy's ``auto``."""
    APPROVED = "approved"
    """Ran as the model proposed, after a person approved it."""
    EDITED = "edited"
    """Ran with arguments a person edited."""
    REJECTED = "rejected"
    """A person rejected it (or nobody decided in time); it did not run."""
    BLOCKED = "blocked"
    """The policy blocks it; it did not run."""
    INVALID = "invalid"
    """An unknown tool or arguments that are not valid; it did not run."""
    ERROR = "error"
    """It ran and failed."""
    VERIFY_FAILED = "verify_failed"
    """It ran and its result failed verification."""


EventKind = RunEventKind | NodeEventKind
"""Any event kind: one of the two disjoint groups."""

_SHARED = {k.value for k in RunEventKind} & {k.value for k in NodeEventKind}
if _SHARED:  # pragma: no cover - guards the definitions above
    raise TypeError(
        f"event kinds {sorted(_SHARED)} are both run-level and node-level; a reader could "
        "not tell them apart (diagrams would count a hop twice): rename one"
    )

_RUN_KINDS: Final = {k.value: k for k in RunEventKind}
_NODE_KINDS: Final = {k.value: k for k in NodeEventKind}


def event_kind(kind: str, data: Mapping[str, Any]) -> EventKind | None:
    """Which kind a stored event is, or ``None`` for a kind this release does not know.

    Older releases also wrote a node-level ``budget_exhausted`` event (without an
    ``error``) before the run-level one; it is ``None`` here, so that no reader counts the
    refusal twice.
    """
    if superseded(kind, data):
        return None
    return _RUN_KINDS.get(kind) or _NODE_KINDS.get(kind)


def superseded(kind: str, data: Mapping[str, Any]) -> bool:
    """Whether a stored event only repeats one that follows it: the node-level
    ``budget_exhausted`` (without an ``error``) older releases wrote before the run's own.
    Readers that rebuild what happened skip it."""
    return kind == RunEventKind.BUDGET_EXHAUSTED and "error" not in data


class RunStartedData(TypedDict):
    """Payload of ``run_started``."""

    input: dict[str, Any]
    budget: dict[str, Any]
    spec: NotRequired[dict[str, Any]]


class RunFinishedData(TypedDict):
    """Payload of ``run_finished``."""

    status: str
    reason: str


class RunFailedData(TypedDict):
    """Payload of ``run_failed`` and of the driver's ``cancelled``."""

    error: str
    error_type: str
    traceback: str | None


class BudgetExhaustedData(RunFailedData):
    """Payload of the run-level ``budget_exhausted``: the failure and the refusal."""

    dimension: NotRequired[str]
    used: NotRequired[float]
    limit: NotRequired[float]
    refused: NotRequired[str]


class RunCancelledData(TypedDict):
    """Payload of ``run_cancelled``."""

    by: str
    reason: str
    unknown_effects: list[dict[str, Any]]


class NodeStartedData(TypedDict):
    """Payload of ``node_started``: written only by an approve gate that parks.

    A node that finishes writes ``node_finished`` alone (its start is ``at`` less its
    duration); runs stored by older releases have a ``node_started`` before every node.
    """

    kind: str


class NodeFinishedData(TypedDict):
    """Payload of ``node_finished``."""

    kind: str
    duration_ms: float
    """How long the node ran; it started this long before the event's ``at``."""
    usage: dict[str, float]
    outcome: NotRequired[str | None]
    """The route or gate outcome the node took; absent (or ``None``) for other nodes."""
    status: NotRequired[str | None]
    """The run status the node set (a gate wired to an end), if any."""


class ToolCallData(TypedDict):
    """Payload of ``tool_call``."""

    tool: str
    tier: str
    args: dict[str, Any]
    status: str
    latency_ms: float
    attempt: int
    idempotency_key: NotRequired[str | None]
    result: NotRequired[Any]
    error: NotRequired[str | None]


class LlmCallData(TypedDict, total=False):
    """Payload of ``llm_call``."""

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float


class VerdictData(TypedDict):
    """Payload of ``verdict``."""

    outcome: str
    attempt: int
    verdicts: list[dict[str, Any]]


class BudgetCheckData(TypedDict):
    """Payload of ``budget_check``."""

    outcome: str
    dimension: str | None
    usage: dict[str, float]
    limits: dict[str, float]
    needs: dict[str, float]


class RouteData(TypedDict):
    """Payload of ``route``."""

    outcome: str
    target: str


class ApprovalRequestedData(TypedDict):
    """Payload of ``approval_requested``."""

    request_id: str
    request: dict[str, Any]


class ApprovalDecidedData(TypedDict):
    """Payload of ``approval_decided``."""

    decision: str
    by: str
    os_user: str | None
    host: str | None
    reason: str | None
    args: dict[str, Any] | None
    call_id: NotRequired[str | None]
    """The model's id of the call decided, when an agent's call was under review."""


class EffectReviewedData(TypedDict):
    """Payload of ``effect_reviewed``."""

    tool: str
    idempotency_key: str
    decision: str
    by: str
    os_user: str | None
    host: str | None
    reason: str | None
    result: dict[str, Any] | None
    """The result observed, when the person said the effect happened."""


class AgentTurnData(TypedDict):
    """Payload of ``agent_turn``: the turn's tool calls, or the outcome that ended the loop."""

    turn: int
    calls: NotRequired[list[str]]
    answered: NotRequired[bool]
    outcome: NotRequired[str]


class AgentCallData(TypedDict):
    """Payload of ``agent_call``."""

    turn: int
    call_id: str | None
    tool: str
    args: dict[str, Any]
    status: str
    decision: str | None
    by: str | None
    rule: str | None
    ran_args: dict[str, Any] | None
    latency_ms: float
