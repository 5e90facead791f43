"""railgraph: keep AI agents on rails.

Declare an agent as an explicit state graph whose verify, budget and approve gates are nodes
of their own, run it durably on SQLite, resume it after a person decides, and draw both the
designed graph and the path each run took.

The names below load on first use: the lower packages (``nodes``, ``checkpointers``, …)
import :mod:`railgraph.errors`, and an eager import here would import them back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from railgraph.errors import (
    ApprovalRejected,
    BudgetExhausted,
    DecisionError,
    DefinitionError,
    InputError,
    PolicyError,
    RailgraphError,
    RenderError,
    RouteError,
    RunBusy,
    RunCancelled,
    RunError,
    RunInterrupted,
    SchemaVersionError,
    StoreError,
    ToolError,
    VerificationFailed,
)
from railgraph.vocab import RunStatus

if TYPE_CHECKING:
    from nodes import ArgRule, Decision, ReviewRequest
    from railgraph._builder import END, FAIL, START, GraphBuilder
    from railgraph._graph import RailGraph
    from railgraph._graph_checks import GraphChecks
    from railgraph._runner import Runner, RunOutcome
    from railgraph._spec import EdgeKind, EdgeSpec, GraphSpec, NodeSpec

_LAZY = {
    "END": "railgraph._builder",
    "FAIL": "railgraph._builder",
    "START": "railgraph._builder",
    "GraphBuilder": "railgraph._builder",
    "RailGraph": "railgraph._graph",
    "GraphChecks": "railgraph._graph_checks",
    "RunOutcome": "railgraph._runner",
    "Runner": "railgraph._runner",
    "EdgeKind": "railgraph._spec",
    "EdgeSpec": "railgraph._spec",
    "GraphSpec": "railgraph._spec",
    "NodeSpec": "railgraph._spec",
    "ArgRule": "nodes",
    "Decision": "nodes",
    "ReviewRequest": "nodes",
}

__all__ = [
    # authoring
    "END",
    "FAIL",
    "START",
    "GraphBuilder",
    "GraphChecks",
    "RailGraph",
    # the designed graph as data
    "EdgeKind",
    "EdgeSpec",
    "GraphSpec",
    "NodeSpec",
    # running and reviewing
    "ArgRule",
    "Decision",
    "ReviewRequest",
    "RunOutcome",
    "RunStatus",
    "Runner",
    # errors
    "ApprovalRejected",
    "BudgetExhausted",
    "DecisionError",
    "DefinitionError",
    "InputError",
    "PolicyError",
    "RailgraphError",
    "RenderError",
    "RouteError",
    "RunBusy",
    "RunCancelled",
    "RunError",
    "RunInterrupted",
    "SchemaVersionError",
    "StoreError",
    "ToolError",
    "VerificationFailed",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'railgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
