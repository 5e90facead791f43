"""The OpenTelemetry SDK configured from the standard ``OTEL_*`` variables, on request.

Kept apart from the exporter so that checking ``RAILGRAPH_OTEL`` imports nothing of
OpenTelemetry: telemetry that is off costs a run nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from railgraph.errors import InputError

__all__ = ["OTEL_ENV", "tracer_provider_from_env"]

OTEL_ENV = "RAILGRAPH_OTEL"
"""Set to ``1`` to export runs with the SDK configured from the ``OTEL_*`` variables."""


def tracer_provider_from_env(environ: Mapping[str, str] | None = None) -> Any | None:
    """The SDK's tracer provider configured from ``OTEL_*`` when ``RAILGRAPH_OTEL=1``, else None.

    ``OTEL_TRACES_EXPORTER`` lists the exporters (``otlp``, the default, over HTTP/protobuf to
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``console``;
    ``none``), ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the service.

    Raises:
        InputError: The SDK is not installed, or an exporter is unknown.
    """
    env = os.environ if environ is None else environ
    if env.get(OTEL_ENV, "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    try:
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        raise InputError(
            f"{OTEL_ENV}=1 needs the OpenTelemetry SDK; install it with "
            "pip install 'railgraph[otel]', or unset RAILGRAPH_OTEL"
        ) from None
    service = env.get("OTEL_SERVICE_NAME") or "railgraph"
    resource = Resource.create({"service.name": service}).merge(OTELResourceDetector().detect())
    if env.get("OTEL_SERVICE_NAME"):
        resource = resource.merge(Resource.create({"service.name": service}))
    provider = TracerProvider(resource=resource)
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    for name in names:
        if name == "none":
            continue
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
        elif name == "otlp":
            protocol = env.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
            )
            if protocol not in ("", "http/protobuf"):
                raise InputError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported by railgraph's "
                    "CLI; use http/protobuf (port 4318 on Jaeger, Phoenix and Langfuse)"
                )
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError:
                raise InputError(
                    "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter; install it with "
                    "pip install 'railgraph[otel]'"
                ) from None
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            raise InputError(
                f"OTEL_TRACES_EXPORTER lists {name!r}, which railgraph does not know; "
                "use otlp, console or none"
            )
    return provider
