"""The incident-response agent: diagnose in parallel, open an incident, roll back with approval.

Flow: look up the service (read) → read logs, metrics and recent deploys in parallel (read) →
join → diagnose (llm) → open an incident (write, idempotent) → budget check → plan → in
parallel: a person approves the rollback (irreversible) and, separately, the status-page post
(external) → roll back / post → join → check recovery (read) → verify the error rate is back
under the service's healthy level (check again once, then escalate to a person) → resolve the
incident (write). Input: ``{"service": "checkout"}``.

Offline against the demo service catalogue (``.railgraph/services.db``) with a scripted chat
model; pass a real one to :func:`make_graph` to use it instead.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field

from railgraph import (
    END,
    START,
    BudgetEnvelope,
    GraphBuilder,
    GraphChecks,
    InRange,
    ModelPrice,
    RailGraph,
    RequiredFields,
    ToolCall,
    ToolPolicy,
    ToolRegistry,
)
from railgraph.graphs._services import ServiceCatalogue

__all__ = ["IncidentState", "graph", "make_graph", "scripted_model"]

SCRIPTED_MODEL = "scripted-sre-model"


class ServiceQuery(BaseModel):
    service: str = Field(pattern=r"^[a-z][a-z0-9-]*$")


class Service(BaseModel):
    name: str
    owner: str
    version: str
    healthy_error_rate: float


class LogLines(BaseModel):
    lines: list[dict[str, str]]


class Metrics(BaseModel):
    version: str
    error_rate: float
    p99_ms: float


class Deploys(BaseModel):
    deploys: list[dict[str, str]]


class IncidentRequest(BaseModel):
    service: str
    summary: str


class Incident(BaseModel):
    incident_id: int
    service: str
    status: str


class RollbackRequest(BaseModel):
    service: str
    to_version: str


class Rollback(BaseModel):
    rollback_id: int
    service: str
    from_version: str
    to_version: str


class StatusPost(BaseModel):
    service: str
    message: str


class Posted(BaseModel):
    post_id: int


class Resolution(BaseModel):
    incident_id: int
    note: str


class IncidentState(BaseModel):
    """What the incident agent knows about the service it is working on."""

    service: str
    catalogue: Service | None = None
    logs: LogLines | None = None
    metrics: Metrics | None = None
    deploys: Deploys | None = None
    diagnosis: str | None = None
    incident: Incident | None = None
    rollback_to: str | None = None
    rollback: Rollback | None = None
    status_post: Posted | None = None
    recovery: dict[str, Any] | None = None
    resolution: Incident | None = None


def scripted_model() -> FakeMessagesListChatModel:
    """An offline chat model that blames the latest deploy."""
    reply = AIMessage(
        "The error rate rose to 12.5% right after the latest deploy; payment timeouts and a "
        "NullPointerException appear only in the new version. Roll back to the previous version.",
        usage_metadata={"input_tokens": 900, "output_tokens": 60, "total_tokens": 960},
    )
    return FakeMessagesListChatModel(responses=[reply])


def _tools(catalogue: ServiceCatalogue) -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def describe_service(args: ServiceQuery) -> Service:
        """Read the service's catalogue entry."""
        row = catalogue.service(args.service)
        if row is None:
            raise LookupError(f"no service {args.service!r} in the catalogue")
        return Service.model_validate(row)

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def read_logs(args: ServiceQuery) -> LogLines:
        """Read the service's recent log lines, errors first."""
        return LogLines(lines=catalogue.logs(args.service))

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def read_metrics(args: ServiceQuery) -> Metrics:
        """Read the error rate and latency of the running version."""
        return Metrics.model_validate(catalogue.metrics(args.service))

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def recent_deploys(args: ServiceQuery) -> Deploys:
        """List the service's deploys, newest first."""
        return Deploys(deploys=catalogue.deploys(args.service))

    @tools.tool(tier="write", timeout_s=5, idempotent=True)
    def open_incident(args: IncidentRequest, call: ToolCall) -> Incident:
        """Open an incident for the service."""
        assert call.idempotency_key is not None
        row = catalogue.open_incident(
            service=args.service, summary=args.summary, idempotency_key=call.idempotency_key
        )
        return Incident.model_validate(row)

    @tools.tool(tier="irreversible", timeout_s=30, idempotent=True)
    def rollback(args: RollbackRequest, call: ToolCall) -> Rollback:
        """Roll the service back to an earlier version in production."""
        assert call.idempotency_key is not None
        row = catalogue.rollback(
            service=args.service, to_version=args.to_version, idempotency_key=call.idempotency_key
        )
        return Rollback.model_validate(row)

    @tools.tool(tier="external", timeout_s=10, idempotent=True)
    def post_status_page(args: StatusPost, call: ToolCall) -> Posted:
        """Post a notice on the public status page."""
        assert call.idempotency_key is not None
        row = catalogue.post_status(
            service=args.service, message=args.message, idempotency_key=call.idempotency_key
        )
        return Posted.model_validate(row)

    @tools.tool(tier="write", timeout_s=5)
    def resolve_incident(args: Resolution) -> Incident:
        """Mark the incident resolved (doing it twice changes nothing)."""
        return Incident.model_validate(catalogue.resolve_incident(args.incident_id, args.note))

    return tools


def _service(state: IncidentState) -> dict[str, Any]:
    return {"service": state.service}


def _plan(state: IncidentState) -> dict[str, Any]:
    assert state.deploys is not None and state.catalogue is not None
    earlier = [
        d["version"] for d in state.deploys.deploys if d["version"] != state.catalogue.version
    ]
    return {"rollback_to": earlier[0] if earlier else state.catalogue.version}


def _recovery(state: IncidentState) -> dict[str, Any]:
    assert state.catalogue is not None
    return {
        "error_rate": state.recovery["error_rate"] if state.recovery else None,
        "healthy": state.catalogue.healthy_error_rate,
    }


def make_graph(
    *,
    model: BaseChatModel | None = None,
    model_name: str | None = None,
    catalogue: ServiceCatalogue | None = None,
    budget: BudgetEnvelope | None = None,
    approval_expires_after_s: float = 3600.0,
) -> RailGraph:
    """Build the incident agent.

    Args:
        model: The chat model that diagnoses; an offline scripted one by default.
        model_name: Name for pricing and reports; taken from the model when unset.
        catalogue: The service catalogue; ``.railgraph/services.db`` by default.
        budget: The graph's envelope.
        approval_expires_after_s: How long the rollback request waits before it is rejected.
    """
    g = GraphBuilder(
        "incident",
        IncidentState,
        tools=_tools(catalogue or ServiceCatalogue()),
        policy=ToolPolicy(tools={"post_status_page": "approve"}),
        budget=budget
        or BudgetEnvelope(steps=60, llm_calls=2, tool_calls=16, cost_usd=0.05, retries=4),
        prices={SCRIPTED_MODEL: ModelPrice(input_per_mtok=1.0, output_per_mtok=4.0)},
        description=__doc__.splitlines()[0] if __doc__ else "",
        owner="sre-on-call",
        checks=GraphChecks(
            never_expires={
                "approve_status_page": "the incident goes on without it; the branch just waits",
                "escalate": "an unrecovered service stays open until a person looks",
            }
        ),
    )
    g.tool("describe", tool="describe_service", args=_service, output="catalogue")
    g.tool("logs", tool="read_logs", args=_service, output="logs")
    g.tool("metrics", tool="read_metrics", args=_service, output="metrics")
    g.tool("deploys", tool="recent_deploys", args=_service, output="deploys")
    g.llm(
        "diagnose",
        model=model or scripted_model(),
        model_name=model_name or (None if model else SCRIPTED_MODEL),
        prompt=lambda s: (
            f"Service {s.service}, running {s.catalogue.version}.\nMetrics: {s.metrics}\n"
            f"Deploys: {s.deploys}\nLogs: {s.logs}\nWhat is wrong, and what should we do?"
        ),
        output="diagnosis",
    )
    g.tool(
        "open_incident",
        args=lambda s: {"service": s.service, "summary": s.diagnosis},
        output="incident",
    )
    g.budget("budget", within="plan", exceeded=END, needs={"tool_calls": 4})
    g.step("plan", _plan)
    g.approve(
        "approve_rollback",
        action="rollback",
        reason=lambda s: f"{s.service} {s.catalogue.version} -> {s.rollback_to}: {s.diagnosis}",
        approved="rollback",
        rejected=END,
        expires_after_s=approval_expires_after_s,
    )
    g.tool(
        "rollback",
        args=lambda s: {"service": s.service, "to_version": s.rollback_to},
        output="rollback",
    )
    g.approve(
        "approve_status_page",
        action="status_page",
        reason=lambda s: f"tell customers that {s.service} is degraded",
        approved="status_page",
        rejected="status_done",
    )
    g.tool(
        "status_page",
        tool="post_status_page",
        args=lambda s: {
            "service": s.service,
            "message": f"{s.service} is degraded; we are rolling back a faulty release.",
        },
        output="status_post",
    )
    g.step("status_done", lambda s: None)
    g.tool("check_recovery", tool="read_metrics", args=_service, output="recovery")
    g.verify(
        "verify_recovery",
        on=_recovery,
        checks=[RequiredFields("error_rate"), InRange("error_rate", le=1.0)],
        retry="check_recovery",
        max_retries=1,
        passed="resolve",
        failed="escalate",
    )
    g.approve("escalate", approved="resolve", rejected=END)
    g.tool(
        "resolve",
        tool="resolve_incident",
        args=lambda s: {
            "incident_id": s.incident.incident_id,
            "note": f"rolled back to {s.rollback_to}; error rate {s.recovery['error_rate']}%",
        },
        output="resolution",
    )
    g.edge(START, "describe")
    for probe in ("logs", "metrics", "deploys"):
        g.edge("describe", probe)
    g.edge(("logs", "metrics", "deploys"), "diagnose")
    g.edge("diagnose", "open_incident")
    g.edge("open_incident", "budget")
    g.edge("plan", "approve_rollback")
    g.edge("plan", "approve_status_page")
    g.edge("status_page", "status_done")
    g.edge(("rollback", "status_done"), "check_recovery")
    g.edge("check_recovery", "verify_recovery")
    g.edge("resolve", END)
    return g.build()


graph = make_graph()
"""The reference incident agent, offline: ``railgraph run railgraph.graphs.incident:graph``."""
