"""OpenTelemetry export of runs, derived from the events the run store keeps.

Off unless a runner is given a tracer provider (``Runner.open(tracer_provider=...)``) or
``RAILGRAPH_OTEL=1`` is set, in which case the OpenTelemetry SDK (``pip install
'railgraph[otel]'``) is configured from the standard ``OTEL_*`` variables. When off, nothing
here is imported and a run costs nothing more.

After the runner stores what a drive did (a run paused, ended or was cancelled), the exporter
reads the run's events since its last export, plans the spans (:mod:`railgraph._telemetry_plan`)
and emits them with their recorded times; then it appends a ``trace_exported`` event with the
trace's ids, so a resumed run's next trace links back to this one, even from another process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from railgraph._telemetry_plan import TRACE_EXPORTED, plan_segment
from railgraph._telemetry_spans import PlannedSpan
from railgraph.checkpointers import RunStore

if TYPE_CHECKING:
    from railgraph._graph import RailGraph

__all__ = ["RunExporter"]

_SCOPE = "railgraph"
_log = logging.getLogger("railgraph.telemetry")


def _version() -> str:
    try:
        return metadata.version("railgraph")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "0"


class RunExporter:
    """Emits each new segment of a run's events as one trace on a tracer provider."""

    def __init__(self, tracer_provider: trace.TracerProvider) -> None:
        self.provider = tracer_provider
        self.tracer = tracer_provider.get_tracer(_SCOPE, _version())

    async def export(self, store: RunStore, run_id: str, graph: RailGraph | None) -> None:
        """Export what the run recorded since the last export, if anything.

        The run is stored before this is called, and telemetry never changes its outcome:
        a failure to export is logged on the ``railgraph.telemetry`` logger, and the same
        events are exported with the run's next segment.
        """
        try:
            await self._export(store, run_id, graph)
        except Exception:
            _log.exception("could not export run %s as OpenTelemetry spans", run_id)

    async def _export(self, store: RunStore, run_id: str, graph: RailGraph | None) -> None:
        record = await store.get_run(run_id)
        if record is None:
            return
        events = await store.list_events(run_id)
        spec = graph.spec if graph is not None else None
        planned = plan_segment(record, events, spec, _policy_of(graph))
        if planned is None:
            return
        context = self._emit(planned, Context())
        through = max(e.seq for e in events)
        if context.is_valid:
            await store.append_events(
                run_id,
                [
                    {
                        "kind": TRACE_EXPORTED,
                        "node": None,
                        "at": planned.end,
                        "data": {
                            "trace_id": trace.format_trace_id(context.trace_id),
                            "span_id": trace.format_span_id(context.span_id),
                            "through_seq": through,
                        },
                    }
                ],
            )

    def _emit(self, planned: PlannedSpan, parent: Context) -> SpanContext:
        links = [
            Link(
                SpanContext(
                    trace_id=int(trace_id, 16),
                    span_id=int(span_id, 16),
                    is_remote=True,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED),
                ),
                {"railgraph.link": "resumed_from"},
            )
            for trace_id, span_id in planned.links
        ]
        span = self.tracer.start_span(
            planned.name,
            context=parent,
            attributes=planned.attributes,
            links=links,
            start_time=_ns(planned.start),
        )
        for event in planned.events:
            span.add_event(event.name, event.attributes, timestamp=_ns(event.at))
        if planned.error is not None:
            span.set_status(Status(StatusCode.ERROR, planned.error))
        inner = trace.set_span_in_context(span, parent)
        end = planned.end
        for child in planned.children:
            self._emit(child, inner)
            end = max(end, child.end)
        span.end(end_time=_ns(end))
        return span.get_span_context()

    def shutdown(self) -> None:
        """Flush and stop the provider, if railgraph configured it (see ``owned``)."""
        shutdown = getattr(self.provider, "shutdown", None)
        if callable(shutdown):
            shutdown()


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def _policy_of(graph: RailGraph | None) -> Any:
    if graph is None:
        return None

    def decide(tool: str, args: Mapping[str, Any]) -> str | None:
        if graph is None or tool not in graph.tools:
            return None
        try:
            return str(graph.policy.action(graph.tools[tool], args))
        except Exception:  # a policy rule that cannot read stored args says nothing
            return None

    return decide
