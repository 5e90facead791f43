"""Node kinds of railgraph graphs and the machinery every node runs through.

Work nodes (step, llm, tool), decision nodes (route, verify, budget, approve), the agent
loop (a model choosing declared tools, each call on the same rails), the tool registry and
policy (tiers, names, rules on arguments; LangChain and MCP tools), the budget envelope and
usage accounting, and the wrapper that records what each node did as run events.
"""

from railgraph.nodes._agent import AgentNode
from railgraph.nodes._budget import DIMENSIONS, BudgetEnvelope, ModelPrice, PriceTable, Usage
from railgraph.nodes._gates import ApproveNode, BudgetNode, RouteNode, VerifyNode
from railgraph.nodes._kinds import NodeKind, PolicyAction, ToolTier
from railgraph.nodes._mcp import load_mcp_tools
from railgraph.nodes._node import END, FAIL, PARTIAL_ATTR, GateNode, RailNode, usage_of
from railgraph.nodes._review import Decision, ReviewAction, ReviewRequest
from railgraph.nodes._rules import ArgRule
from railgraph.nodes._runtime import RUNTIME_KEY, EffectLedger, NodeContext, Runtime, canonical_json
from railgraph.nodes._state import INTERNAL_CHANNELS, internal_fields
from railgraph.nodes._strict import merge_edit, observed_result
from railgraph.nodes._tools import ToolCall, ToolPolicy, ToolRegistry, ToolSpec, TransientToolError
from railgraph.nodes._work import LlmNode, StepNode, ToolNode

__all__ = [
    # node kinds
    "AgentNode",
    "ApproveNode",
    "BudgetNode",
    "GateNode",
    "LlmNode",
    "NodeKind",
    "RailNode",
    "RouteNode",
    "StepNode",
    "ToolNode",
    "VerifyNode",
    "END",
    "FAIL",
    # tools and policy
    "ArgRule",
    "PolicyAction",
    "ToolCall",
    "ToolPolicy",
    "ToolRegistry",
    "ToolSpec",
    "ToolTier",
    "TransientToolError",
    "load_mcp_tools",
    # budget
    "DIMENSIONS",
    "BudgetEnvelope",
    "ModelPrice",
    "PriceTable",
    "Usage",
    # review
    "Decision",
    "ReviewAction",
    "ReviewRequest",
    "merge_edit",
    "observed_result",
    # runtime
    "INTERNAL_CHANNELS",
    "PARTIAL_ATTR",
    "RUNTIME_KEY",
    "EffectLedger",
    "NodeContext",
    "Runtime",
    "canonical_json",
    "internal_fields",
    "usage_of",
]
