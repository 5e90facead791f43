"""The shared vocabularies: stored values, the two groups of event kinds, and no stray literals."""

from __future__ import annotations

import ast
import json
from enum import StrEnum
from pathlib import Path

import pytest

from railgraph import vocab
from railgraph.checkpointers import RunRecord
from railgraph.vocab import (
    DELIVERABLE,
    ENDED,
    AgentCallStatus,
    ApprovalStatus,
    DecisionKind,
    EffectStatus,
    NodeEventKind,
    NodeKind,
    RunEventKind,
    RunStatus,
    event_kind,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("railgraph", "nodes", "checkpointers", "visualize", "verifiers")


def test_values_are_the_stored_strings() -> None:
    # Databases and JSON hold these strings: renaming one would orphan stored rows.
    assert [s.value for s in RunStatus] == [
        "running",
        "paused",
        "completed",
        "failed",
        "budget_exhausted",
        "rejected",
        "cancelled",
    ]
    assert [s.value for s in ApprovalStatus] == [
        "pending",
        "approved",
        "edited",
        "rejected",
        "expired",
        "cancelled",
        "happened",
    ]
    assert [s.value for s in EffectStatus] == ["started", "completed", "failed"]
    assert sorted(ENDED) == ["budget_exhausted", "cancelled", "completed", "failed", "rejected"]
    assert sorted(DELIVERABLE) == ["approved", "edited", "expired", "happened", "rejected"]
    assert {d: d.status for d in DecisionKind} == {
        "approve": "approved",
        "edit": "edited",
        "reject": "rejected",
        "expire": "expired",
        "happened": "happened",
    }
    assert [d for d in DecisionKind if d.approves] == ["approve", "edit"]
    assert [k.value for k in NodeKind] == [
        "start",
        "end",
        "step",
        "llm",
        "tool",
        "route",
        "verify",
        "budget",
        "approve",
        "agent",
    ]


def test_records_read_old_strings_and_write_them_back() -> None:
    stored = {
        "run_id": "r",
        "graph": "g:graph",
        "graph_name": "g",
        "signature": "s",
        "status": "budget_exhausted",
        "input": {},
        "budget": {},
        "usage": {},
        "created_at": 1.0,
        "updated_at": 2.0,
    }
    record = RunRecord.model_validate(stored)
    assert type(record.status) is RunStatus
    assert record.status == "budget_exhausted"
    assert json.loads(record.model_dump_json())["status"] == "budget_exhausted"
    assert f"{record.status}" == "budget_exhausted"


def test_run_and_node_event_kinds_are_disjoint() -> None:
    run_kinds = {k.value for k in RunEventKind}
    node_kinds = {k.value for k in NodeEventKind}
    assert run_kinds & node_kinds == set()
    assert run_kinds == {
        "run_started",
        "run_finished",
        "run_failed",
        "budget_exhausted",
        "run_cancelled",
        "cancelled",
        "trace_exported",
    }
    assert node_kinds == {
        "node_started",
        "node_finished",
        "tool_call",
        "llm_call",
        "verdict",
        "budget_check",
        "route",
        "approval_requested",
        "approval_decided",
        "effect_reviewed",
        "agent_turn",
        "agent_call",
    }


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("run_started", {}, RunEventKind.RUN_STARTED),
        ("node_finished", {"kind": "step"}, NodeEventKind.NODE_FINISHED),
        (
            "budget_exhausted",
            {"error": "budget exhausted at node 'b'"},
            RunEventKind.BUDGET_EXHAUSTED,
        ),
        # what older releases also wrote at the refused node: no run-level event
        ("budget_exhausted", {"dimension": "steps", "used": 2, "limit": 2}, None),
        # a kind of a newer release stays readable, as nothing this release knows
        ("tool_batch", {}, None),
    ],
)
def test_event_kind(kind: str, data: dict[str, object], expected: object) -> None:
    assert event_kind(kind, data) == expected
    assert event_kind(kind, data) is expected


def _vocabulary() -> tuple[set[str], set[str]]:
    """(values too specific to be anything else, every value of the shared enums)."""
    enums: list[type[StrEnum]] = [
        RunStatus,
        ApprovalStatus,
        EffectStatus,
        DecisionKind,
        RunEventKind,
        NodeEventKind,
        AgentCallStatus,
    ]
    values = {member.value for enum in enums for member in enum}
    return {v for v in values if "_" in v}, values


_ENUM_NAMES = {
    name
    for name, value in vars(vocab).items()
    if isinstance(value, type) and issubclass(value, StrEnum)
}


def _enum_body(node: ast.ClassDef) -> bool:
    return any(isinstance(b, ast.Name) and b.id.endswith("Enum") for b in node.bases)


def _stray_literals(path: Path) -> list[str]:
    distinctive, values = _vocabulary()
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            # docstrings
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    skip.add(id(stmt.value))
        if isinstance(node, ast.ClassDef) and _enum_body(node):
            # another enum's own values (such as a diagram's StopStatus)
            skip.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "get_args"
            and any(isinstance(a, ast.Name) and a.id in _ENUM_NAMES for a in node.args)
        ):
            # It listed a Literal's values; on an enum it is empty.
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: get_args() of an enum")
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                elements = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                for e in elements:
                    if isinstance(e, ast.Constant) and e.value in values:
                        skip.add(id(e))
                        found.append(f"{path.relative_to(ROOT)}:{e.lineno}: compares {e.value!r}")
        if (
            isinstance(node, ast.Constant)
            and id(node) not in skip
            and isinstance(node.value, str)
            and node.value in distinctive
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    return found


def test_no_package_repeats_a_vocabulary_literal() -> None:
    """Statuses, decisions and event kinds are spelled only in railgraph/vocab.py."""
    found = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "railgraph" / "vocab.py"
        for hit in _stray_literals(path)
    ]
    assert found == []
