"""A built railgraph graph: the spec, the node objects and the LangGraph graph they compile to."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ValidationError

from railgraph._assemble import Declaration
from railgraph._graph_checks import GraphChecks
from railgraph._spec import GraphSpec
from railgraph.checkpointers import SqliteCheckpointer, model_types
from railgraph.errors import InputError
from railgraph.nodes import (
    INTERNAL_CHANNELS,
    BudgetEnvelope,
    PriceTable,
    RailNode,
    ToolPolicy,
    ToolRegistry,
)

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
    owner: str | None = None
    """Who answers for the graph in production."""
    checks: GraphChecks = field(default_factory=GraphChecks)
    """What the team decided for ``railgraph check``."""
    declaration: Declaration | None = field(default=None, repr=False)
    """What the builder collected; the graph LangGraph's server runs is built from it again
    (see ``railgraph.server``)."""

    @functools.cached_property
    def signature(self) -> str:
        """The spec's signature: changes whenever the graph's structure does (the spec is
        frozen, so it is hashed once, not at every run's start)."""
        return self.spec.signature

    @functools.cached_property
    def spec_data(self) -> dict[str, Any]:
        """The spec as JSON-able data, made once: every run's ``run_started`` event names it.

        Shared by every run of the graph, so it is never changed in place.
        """
        return self.spec.model_dump(mode="json")

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

    def validate_input(self, input: Mapping[str, Any]) -> BaseModel:
        """A run's input as the author's state, refused if it does not fit.

        A key the state does not declare is refused (a misspelled field would otherwise be
        dropped and its default used) unless the state model allows extra fields; railgraph's
        own channels are never accepted as input.

        Raises:
            InputError: Listing the unknown fields or the problems, and the state's fields.
        """
        model = self.state
        fields = ", ".join(model.model_fields)
        known = set(model.model_fields) | {
            alias
            for info in model.model_fields.values()
            for alias in (info.alias, info.validation_alias)
            if isinstance(alias, str)
        }
        unknown = sorted(set(input) - known)
        if model.model_config.get("extra") == "allow":
            unknown = [key for key in unknown if key in INTERNAL_CHANNELS]
        if unknown:
            raise InputError(
                f"input has fields {model.__name__} does not declare: "
                f"{', '.join(map(repr, unknown))}; its fields are {fields}"
            )
        try:
            return model.model_validate(dict(input))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(input)'}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(
                f"input does not fit {model.__name__} ({problems}); its fields are {fields}"
            ) from None
