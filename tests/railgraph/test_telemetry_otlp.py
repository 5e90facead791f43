"""End to end: the CLI ships a run's spans over OTLP/HTTP to a real Arize Phoenix started here,
and the trace read back through Phoenix's REST API is the run `railgraph show` reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "railgraph-e2e"

pytestmark = pytest.mark.slow


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait(proc: subprocess.Popen[bytes], ready: Any, *, seconds: float, what: str) -> Any:
    """Poll ``ready()`` until it returns a value, the process dies or time runs out.

    Waiting on the process itself paces the polls, so a receiver that dies is seen at once.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = ready()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        try:
            code = proc.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"Phoenix exited with {code} while waiting for {what}")
    pytest.fail(f"gave up after {seconds:g} s waiting for {what}")


@pytest.fixture
def phoenix(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = Path(os.environ.get("RAILGRAPH_PHOENIX", ROOT / ".venv-phoenix" / "bin" / "phoenix"))
    if not binary.exists():
        pytest.fail(f"Arize Phoenix is not installed at {binary}; run scripts/setup")
    port, grpc = free_port(), free_port()
    home = tmp_path / "phoenix"
    home.mkdir()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(home),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    with (home / "log").open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(proc, lambda: _get(f"{base}/v1/projects"), seconds=180, what="Phoenix to start")
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cli(tmp_path: Path, base: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RAILGRAPH_OTEL": "1",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        "OTEL_SERVICE_NAME": "refund-agent",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
    }
    return subprocess.run(
        [sys.executable, "-m", "railgraph", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _tree(spans: list[dict[str, Any]]) -> list[str]:
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        by_parent.setdefault(span["parent_id"], []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(by_parent.get(parent, []), key=lambda s: (s["start_time"], s["name"])):
            lines.append("  " * depth + span["name"])
            walk(span["context"]["span_id"], depth + 1)

    walk(None, 0)
    return lines


def test_a_reviewed_refund_reaches_phoenix_as_two_linked_traces(
    tmp_path: Path, phoenix: tuple[str, subprocess.Popen[bytes]]
) -> None:
    base, proc = phoenix
    started = json.loads(
        _cli(
            tmp_path,
            base,
            "run",
            "railgraph.graphs.refund:graph",
            "--input",
            '{"ticket_id": "T-1002"}',
            "--by",
            "carol",
            "--json",
        ).stdout
    )
    run_id = started["run_id"]
    assert started["status"] == "paused"
    _cli(tmp_path, base, "approve", run_id, "--by", "dave")

    url = f"{base}/v1/projects/{PROJECT}/spans?limit=500"

    def all_spans() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = _get(url)["data"]
        return found if len(found) >= 18 else None

    spans: list[dict[str, Any]] = _wait(proc, all_spans, seconds=60, what="18 spans in Phoenix")

    shown = json.loads(
        subprocess.run(
            [sys.executable, "-m", "railgraph", "show", run_id, "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    exported = [e["data"] for e in shown["events"] if e["kind"] == "trace_exported"]
    assert len(spans) == 18
    assert sorted({s["context"]["trace_id"] for s in spans}) == sorted(
        e["trace_id"] for e in exported
    )
    first, second = (
        [s for s in spans if s["context"]["trace_id"] == e["trace_id"]] for e in exported
    )
    assert _tree(first) == [
        "invoke_workflow refund",
        "  tool load_ticket",
        "    execute_tool load_ticket",
        "  llm classify",
        "    chat scripted-support-model",
        "  route by_intent",
        "  tool lookup_invoice",
        "    execute_tool lookup_invoice",
        "  verify verify_invoice",
        "  budget budget",
        "  route by_amount",
        "  approve approve_refund",
    ]
    assert _tree(second) == [
        "invoke_workflow refund",
        "  approve approve_refund",
        "  tool create_refund",
        "    execute_tool create_refund",
        "  tool notify_customer",
        "    execute_tool notify_customer",
    ]
    roots = [s for s in spans if s["parent_id"] is None]
    assert {s["context"]["span_id"] for s in roots} == {e["span_id"] for e in exported}
    for root in roots:
        assert root["span_kind"] == "AGENT"
        assert root["attributes"]["session.id"] == run_id
        assert root["attributes"]["gen_ai.conversation.id"] == run_id
    kinds = {s["name"]: s["span_kind"] for s in spans}
    assert (kinds["chat scripted-support-model"], kinds["execute_tool create_refund"]) == (
        "LLM",
        "TOOL",
    )
    [chat] = [s for s in spans if s["name"] == "chat scripted-support-model"]
    assert (
        chat["attributes"]["gen_ai.request.model"],
        chat["attributes"]["gen_ai.usage.input_tokens"],
        chat["attributes"]["gen_ai.usage.output_tokens"],
    ) == ("scripted-support-model", 120, 2)
    [refund] = [s for s in spans if s["name"] == "execute_tool create_refund"]
    [call] = [t for t in shown["tool_calls"] if t["tool"] == "create_refund"]
    assert {
        k: refund["attributes"][k]
        for k in (
            "railgraph.tool.tier",
            "railgraph.tool.policy",
            "railgraph.tool.ledger",
            "railgraph.tool.idempotency_key",
        )
    } == {
        "railgraph.tool.tier": "irreversible",
        "railgraph.tool.policy": "approve",
        "railgraph.tool.ledger": "executed",
        "railgraph.tool.idempotency_key": call["idempotency_key"],
    }
    [decided] = [s for s in second if s["name"] == "approve approve_refund"]
    assert [
        (e["name"], e["attributes"]["railgraph.approval.reviewer"]) for e in decided["events"]
    ] == [("approval_decided", "dave")]
