"""A built railgraph graph: the spec, the node objects and the LangGraph graph they compile to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

from checkpointers import SqliteCheckpointer, model_types
from nodes import BudgetEnvelope, PriceTable, RailNode, ToolPolicy, ToolRegistry
from railgraph._spec import GraphSpec

__all__ = ["RailGraph"]


@dataclass(frozen=True, eq=False)
class RailGraph:
    """The product of :meth:`GraphBuilder.build`: what a runner runs and a diagram draws."""

    name: str
    """The graph's name."""
    spec: GraphSpec
    """The designed graph as data."""
    state: type[BaseModel]
    """The author's state model; run input is validated against it."""
    state_model: type[BaseModel]
    """The state model LangGraph runs on: the author's plus railgraph's channels."""
    nodes: Mapping[str, RailNode]
    """Node objects by id."""
    tools: ToolRegistry
    """Tools the graph declared."""
    policy: ToolPolicy
    """The graph's tool policy."""
    budget: BudgetEnvelope
    """Default envelope for the graph's runs."""
    prices: PriceTable
    """Model prices for cost accounting."""
    builder: StateGraph[Any, Any, Any, Any] = field(repr=False)
    """The uncompiled LangGraph graph."""
    description: str = ""
    """What the graph does."""
    module: str | None = None
    """Module that declared the graph, used to find its import reference."""

    @property
    def signature(self) -> str:
        """The spec's signature: changes whenever the graph's structure does."""
        return self.spec.signature

    def compile(
        self, checkpointer: BaseCheckpointSaver[Any] | None = None
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """An ordinary LangGraph ``CompiledStateGraph`` of this graph on ``checkpointer``.

        A railgraph checkpointer is told the state's types, the only classes (with
        LangGraph's safe ones) its checkpoints may name when they are loaded.
        """
        if isinstance(checkpointer, SqliteCheckpointer):
            checkpointer.allow_types(model_types(self.builder.state_schema))
        return self.builder.compile(checkpointer=checkpointer, name=self.name)

    def user_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The author's fields from a full state, without railgraph's channels."""
        return {k: v for k, v in values.items() if k in self.state.model_fields}
