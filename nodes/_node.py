"""The wrapper every railgraph node runs in: budget per step, events and usage per node."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from railgraph.nodes._budget import Usage
from railgraph.nodes._channels import Disposition
from railgraph.nodes._kinds import NodeKind
from railgraph.nodes._nonfinite import exact_json
from railgraph.nodes._runtime import NodeContext, runtime_from_config
from railgraph.nodes._state import BRANCH, EVENTS, FEEDBACK, PARKED, STATUS, USAGE, checked_update
from railgraph.vocab import (
    END_ID,
    FAIL_ID,
    NodeEventKind,
    NodeFinishedData,
    NodeMeta,
    NodeStartedData,
    RunStatus,
)

__all__ = ["END", "FAIL", "PARTIAL_ATTR", "GateNode", "RailNode", "plain", "usage_of"]

PARTIAL_ATTR = "railgraph_partial"
"""Attribute set on an exception that escapes a node: ``(node, events, usage spent)``, so the
runner can record what the node did before it failed."""


_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """``value`` with pydantic models turned into JSON-able data, inside lists and dicts too.

    State is checkpointed as plain data, so a stored run never depends on the import path
    of a model class (LangGraph would otherwise serialize models by class path).
    """
    kind = type(value)
    # Exact types first: a pydantic isinstance check costs microseconds, and every node's
    # update passes here.
    if kind in _SCALARS:
        return value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    # No model is a dict, list or tuple: the costly check comes last.
    if isinstance(value, BaseModel):
        # Exact: an infinity inside an ``Any`` value (a model's tool call) stays one.
        return exact_json(value)
    return value


def usage_of(state: BaseModel) -> Usage:
    """The run's usage as stored in the state."""
    raw: Mapping[str, float] = getattr(state, USAGE)
    return Usage.model_validate(dict(raw))


@dataclass(frozen=True, kw_only=True)
class RailNode(ABC):
    """A node of a railgraph graph; LangGraph calls it as ``node(state, config)``."""

    kind: ClassVar[NodeKind]
    step_guard: ClassVar[bool] = True
    """Whether the runtime refuses this node when the budget has no room for another step."""
    id: str
    """Node id, unique in its graph."""
    label: str | None = None
    """Text for diagrams; the id when unset."""

    @property
    def meta(self) -> NodeMeta:
        """What the spec records about this node beyond id and kind (JSON-able)."""
        return {}

    @abstractmethod
    async def run(self, state: Any, ctx: NodeContext) -> dict[str, Any]:
        """Do the node's work and return the state update."""

    def approval_in(self, state: Any) -> Mapping[str, Any] | None:
        """The decision an approve gate recorded for this node's next call, if any.

        Only a tool node reviewed by an approve gate has one; the context hands it to the
        guarded tool call, so no code of the author's can make an approved call itself.
        """
        return None

    async def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        runtime = runtime_from_config(config)
        feedback = list(getattr(state, FEEDBACK).get(self.id, []))
        ctx = NodeContext(runtime, self.id, usage_of(state), feedback=feedback)
        started_at = runtime.clock()
        started = runtime.timer()
        ran = False
        try:
            if self.step_guard:
                ctx.ensure_budget("steps", what=f"node {self.id!r}")
            ran = True
            # Only here, from checkpointed state, does a node get an approval to spend.
            ctx._approval = self.approval_in(state)
            update = checked_update(self.id, state, await self.run(state, ctx))
        except Exception as exc:
            if ran:
                ctx.spend(steps=1, wall_s=runtime.timer() - started)
            setattr(exc, PARTIAL_ATTR, (self.id, ctx.events, ctx.spent))
            raise
        elapsed = runtime.timer() - started
        outcome = update.get(BRANCH, {}).get(self.id)
        # A gate that parks finishes later, when its decision arrives: one step, not two.
        ctx.spend(steps=0 if outcome == PARKED else 1, wall_s=round(elapsed, 6))
        events = ctx.events
        if outcome == PARKED:
            # A parked approve gate has started but not finished: it finishes when its
            # decision arrives, so only here is its start an event of its own.
            started_data: NodeStartedData = {"kind": self.kind.value}
            events.insert(
                0,
                {
                    "kind": NodeEventKind.NODE_STARTED.value,
                    "node": self.id,
                    "at": started_at,
                    "data": started_data,
                },
            )
        else:
            # One event per node that finished, with its duration: the start is `at`
            # less the duration, and a node a crash stopped wrote no event at all.
            finished: NodeFinishedData = {
                "kind": self.kind.value,
                "duration_ms": round(elapsed * 1000, 3),
                "usage": ctx.spent,
            }
            if outcome is not None:
                finished["outcome"] = outcome
            status = update.get(STATUS, {}).get("status")
            if status is not None:
                finished["status"] = status
            events.append(
                {
                    "kind": NodeEventKind.NODE_FINISHED.value,
                    "node": self.id,
                    "at": runtime.clock(),
                    "data": finished,
                }
            )
        out: dict[str, Any] = plain(update)  # a new dict already
        out[EVENTS] = events
        out[USAGE] = ctx.spent
        if feedback and FEEDBACK not in update:
            out[FEEDBACK] = {self.id: []}
        return out


@dataclass(frozen=True, kw_only=True)
class GateNode(RailNode):
    """A node whose named outcomes become edges (routes and the three gates)."""

    targets: Mapping[str, str]
    """Outcome label to target node id (or the END / FAIL terminals)."""

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcome labels this node can take, in declaration order."""
        return tuple(self.targets)

    def branch(self, outcome: str, *, reason: str | None = None) -> dict[str, Any]:
        """The update that sends the run along ``outcome``.

        An outcome wired to :data:`FAIL` also marks the run ``failed`` with ``reason``.
        """
        # Plain strings only: the channel is checkpointed, and enum members are not data.
        outcome = str(outcome)
        update: dict[str, Any] = {BRANCH: {self.id: outcome}}
        if self.targets.get(outcome) == FAIL:
            update[STATUS] = Disposition(
                status=RunStatus.FAILED,
                reason=reason or f"{self.id} took outcome {outcome!r}",
                node=self.id,
            ).channel_value()
        return update


END = END_ID
"""Target that ends the run normally (LangGraph's END)."""
FAIL = FAIL_ID
"""Target that ends the run with status ``failed`` (drawn as its own terminal)."""
