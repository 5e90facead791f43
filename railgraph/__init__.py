"""railgraph: keep AI agents on rails.

Declare an agent as an explicit state graph whose verify, budget and approve gates are nodes
of their own, run it durably on SQLite, resume it after a person decides, and draw both the
designed graph and the path each run took.

An author imports everything from here: the builder, the runner, and the tools, budget and
verifier names of :mod:`railgraph.nodes` and :mod:`railgraph.verifiers`. The names load on
first use: the packages below (``railgraph.nodes``, ``railgraph.checkpointers``, …) import
:mod:`railgraph.errors`, and an eager import here would import them back.
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
    from railgraph._builder import END, FAIL, START, GraphBuilder
    from railgraph._graph import RailGraph
    from railgraph._graph_checks import GraphChecks
    from railgraph._runner import Runner, RunOutcome
    from railgraph._spec import EdgeKind, EdgeSpec, GraphSpec, NodeSpec
    from railgraph.nodes import (
        ArgRule,
        BudgetEnvelope,
        Decision,
        ModelPrice,
        PolicyAction,
        PriceTable,
        ReviewRequest,
        ToolCall,
        ToolPolicy,
        ToolRegistry,
        ToolTier,
        TransientToolError,
        load_mcp_tools,
    )
    from railgraph.verifiers import (
        Bound,
        Failure,
        InRange,
        NoErrorSignal,
        Predicate,
        RequiredFields,
        Schema,
        Verdict,
        Verifier,
    )

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
    "ArgRule": "railgraph.nodes",
    "BudgetEnvelope": "railgraph.nodes",
    "Decision": "railgraph.nodes",
    "ModelPrice": "railgraph.nodes",
    "PolicyAction": "railgraph.nodes",
    "PriceTable": "railgraph.nodes",
    "ReviewRequest": "railgraph.nodes",
    "ToolCall": "railgraph.nodes",
    "ToolPolicy": "railgraph.nodes",
    "ToolRegistry": "railgraph.nodes",
    "ToolTier": "railgraph.nodes",
    "TransientToolError": "railgraph.nodes",
    "load_mcp_tools": "railgraph.nodes",
    "Bound": "railgraph.verifiers",
    "Failure": "railgraph.verifiers",
    "InRange": "railgraph.verifiers",
    "NoErrorSignal": "railgraph.verifiers",
    "Predicate": "railgraph.verifiers",
    "RequiredFields": "railgraph.verifiers",
    "Schema": "railgraph.verifiers",
    "Verdict": "railgraph.verifiers",
    "Verifier": "railgraph.verifiers",
}

__all__ = [
    # authoring
    "END",
    "FAIL",
    "START",
    "GraphBuilder",
    "GraphChecks",
    "RailGraph",
    # tools, policy and budget
    "ArgRule",
    "BudgetEnvelope",
    "ModelPrice",
    "PolicyAction",
    "PriceTable",
    "ToolCall",
    "ToolPolicy",
    "ToolRegistry",
    "ToolTier",
    "TransientToolError",
    "load_mcp_tools",
    # verifiers
    "Bound",
    "Failure",
    "InRange",
    "NoErrorSignal",
    "Predicate",
    "RequiredFields",
    "Schema",
    "Verdict",
    "Verifier",
    # the designed graph as data
    "EdgeKind",
    "EdgeSpec",
    "GraphSpec",
    "NodeSpec",
    # running and reviewing
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
