"""Declare a graph in code; :meth:`GraphBuilder.build` checks it and produces a RailGraph."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Self, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from railgraph._assemble import START, Declaration, build_langgraph, build_spec, state_model
from railgraph._builder_agent import AgentDeclarations
from railgraph._checks import check_graph, rejoins, require_field, require_wired, reviewer_names
from railgraph._graph import RailGraph
from railgraph._graph_checks import GraphChecks
from railgraph.errors import DefinitionError
from railgraph.nodes import (
    END,
    FAIL,
    INTERNAL_CHANNELS,
    ApproveNode,
    BudgetEnvelope,
    BudgetNode,
    LlmNode,
    ModelPrice,
    PriceTable,
    RailNode,
    RouteNode,
    StepNode,
    ToolNode,
    ToolPolicy,
    ToolRegistry,
    VerifyNode,
)
from railgraph.verifiers import Verifier
from railgraph.vocab import GateOutcome

__all__ = ["END", "FAIL", "START", "GraphBuilder"]


S = TypeVar("S", bound=BaseModel)
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class GraphBuilder(AgentDeclarations, Generic[S]):
    """Declares a graph: nodes of each kind, plain edges, and gate outcomes wired to nodes.

    Example:
        >>> from pydantic import BaseModel
        >>> class State(BaseModel):
        ...     n: int = 0
        >>> g = GraphBuilder("count", State)
        >>> _ = g.step("inc", lambda s: {"n": s.n + 1}).edge(START, "inc").edge("inc", END)
        >>> g.build().spec.signature == g.build().spec.signature
        True
    """

    def __init__(
        self,
        name: str,
        state: type[S],
        *,
        tools: ToolRegistry | None = None,
        policy: ToolPolicy | None = None,
        budget: BudgetEnvelope | None = None,
        prices: PriceTable | Mapping[str, ModelPrice] | None = None,
        description: str = "",
        owner: str | None = None,
        checks: GraphChecks | Mapping[str, Any] | None = None,
    ) -> None:
        """``owner`` names who answers for the graph in production (see ``railgraph profile``);
        ``checks`` holds what the team decided for ``railgraph check`` (see GraphChecks)."""
        if not (isinstance(state, type) and issubclass(state, BaseModel)):
            raise DefinitionError(
                f"graph {name!r}: the state must be a pydantic BaseModel subclass, got {state!r}"
            )
        clash = sorted(set(state.model_fields) & set(INTERNAL_CHANNELS))
        if clash:
            raise DefinitionError(
                f"graph {name!r}: state fields {clash} are reserved by railgraph; rename them"
            )
        self.name = name
        self.state = state
        self.tools = tools or ToolRegistry()
        self.policy = policy or ToolPolicy()
        self.budget_envelope = budget or BudgetEnvelope()
        self.prices = (
            prices if isinstance(prices, PriceTable) else PriceTable(prices=dict(prices or {}))
        )
        self.description = description
        self.owner = owner
        self.checks = GraphChecks.of(checks)
        # The declaring module lets a runner find the graph's import reference later.
        self.module: str | None = sys._getframe(1).f_globals.get("__name__")
        self._nodes: dict[str, RailNode] = {}
        self._pending: dict[str, Callable[[], RailNode]] = {}
        self._approve_ids: set[str] = set()
        self._detour_checks: set[str] = set()
        self._edges: list[tuple[str, str]] = []
        self._joins: list[tuple[tuple[str, ...], str]] = []

    # -- nodes -------------------------------------------------------------------------------

    def _add(self, node_id: str, make: Callable[[], RailNode]) -> Self:
        if not isinstance(node_id, str) or not _ID.match(node_id):
            raise DefinitionError(
                f"graph {self.name!r}: node id {node_id!r} is not valid; use letters, digits, "
                "'_' and '-', starting with a letter"
            )
        if node_id in self._pending:
            raise DefinitionError(
                f"graph {self.name!r}: node {node_id!r} is declared twice; give the second "
                "one another id"
            )
        self._pending[node_id] = make
        return self

    def step(self, id: str, fn: Callable[..., Any], *, label: str | None = None) -> Self:
        """Add a node that runs ``fn(state)`` or ``fn(state, ctx)`` and returns a state update."""
        return self._add(id, lambda: StepNode(id=id, label=label, fn=fn))

    def llm(
        self,
        id: str,
        *,
        model: BaseChatModel,
        prompt: Callable[[Any], Any],
        output: str,
        parse: Callable[[AIMessage], Any] | None = None,
        model_name: str | None = None,
        label: str | None = None,
    ) -> Self:
        """Add a node that calls ``model`` with ``prompt(state)``; the reply goes to ``output``."""
        require_field(self.state, id, output)
        return self._add(
            id,
            lambda: LlmNode(
                id=id,
                label=label,
                model=model,
                prompt=prompt,
                output=output,
                parse=parse,
                model_name=model_name,
            ),
        )

    def tool(
        self,
        id: str,
        *,
        args: Callable[[Any], Mapping[str, Any]],
        tool: str | None = None,
        output: str | None = None,
        label: str | None = None,
    ) -> Self:
        """Add a node that calls a declared tool (``tool``, default ``id``) with ``args(state)``."""
        if output is not None:
            require_field(self.state, id, output)
        name = tool or id
        return self._add(
            id, lambda: ToolNode(id=id, label=label, tool=name, args=args, output=output)
        )

    def route(
        self,
        id: str,
        fn: Callable[..., str],
        *,
        targets: Mapping[str, str] | Sequence[str],
        label: str | None = None,
    ) -> Self:
        """Add a node that picks the next node: ``fn(state)`` returns one declared label.

        ``targets`` maps labels to nodes, or lists node ids that serve as their own labels.
        """
        wired = dict(targets) if isinstance(targets, Mapping) else {t: t for t in targets}
        if not wired:
            raise DefinitionError(
                f"route {id!r} declares no targets; pass targets={{'label': 'node', ...}}"
            )
        return self._add(id, lambda: RouteNode(id=id, label=label, fn=fn, targets=wired))

    def verify(
        self,
        id: str,
        *,
        on: str | Callable[[Any], Any],
        checks: Sequence[Verifier],
        passed: str | None = None,
        failed: str | None = None,
        retry: str | None = None,
        max_retries: int = 1,
        label: str | None = None,
    ) -> Self:
        """Add a verify gate: ``passed`` → next; on failure ``retry`` a node up to
        ``max_retries`` times with the failures as feedback, then ``failed`` (a node such as
        an approve gate, or ``FAIL``)."""
        if isinstance(on, str):
            require_field(self.state, id, on)
        if not checks:
            raise DefinitionError(f"verify gate {id!r} has no checks; pass checks=[...]")
        if max_retries < 0:
            raise DefinitionError(f"verify gate {id!r}: max_retries must be >= 0")
        outcomes = {GateOutcome.PASS.value: passed, GateOutcome.FAIL.value: failed}
        if retry is not None and max_retries > 0:
            outcomes = {
                GateOutcome.PASS.value: passed,
                GateOutcome.RETRY.value: retry,
                GateOutcome.FAIL.value: failed,
            }
        require_wired(
            id,
            "verify gate",
            outcomes,
            {GateOutcome.PASS.value: "passed", GateOutcome.FAIL.value: "failed"},
        )
        return self._add(
            id,
            lambda: VerifyNode(
                id=id,
                label=label,
                targets=_targets(outcomes),
                on=on,
                checks=tuple(checks),
                retry=retry if max_retries > 0 else None,
                max_retries=max_retries,
            ),
        )

    def budget(
        self,
        id: str,
        *,
        within: str | None = None,
        exceeded: str | None = None,
        needs: Mapping[str, float] | None = None,
        label: str | None = None,
    ) -> Self:
        """Add a budget gate: ``within`` while usage (plus ``needs``) fits the envelope,
        else ``exceeded`` — usually END, which finishes the run as ``budget_exhausted``
        with its partial result."""
        outcomes = {GateOutcome.WITHIN.value: within, GateOutcome.EXCEEDED.value: exceeded}
        require_wired(
            id,
            "budget gate",
            outcomes,
            {GateOutcome.WITHIN.value: "within", GateOutcome.EXCEEDED.value: "exceeded"},
        )
        reserve = dict(needs or {})
        try:
            BudgetEnvelope.model_validate(reserve)
        except ValueError:
            raise DefinitionError(
                f"budget gate {id!r}: needs={reserve} must name budget dimensions with "
                "non-negative amounts, e.g. needs={'tool_calls': 2}"
            ) from None
        return self._add(
            id, lambda: BudgetNode(id=id, label=label, targets=_targets(outcomes), needs=reserve)
        )

    def approve(
        self,
        id: str,
        *,
        approved: str | None = None,
        rejected: str | None = None,
        action: str | None = None,
        reason: str | Callable[[Any], str] | None = None,
        reviewers: Sequence[str] = (),
        allow_self_approval: bool = True,
        expires_after_s: float | None = None,
        expired: str | None = None,
        rejection_ends_run: bool | None = None,
        label: str | None = None,
    ) -> Self:
        """Add an approve gate that pauses the run for a person's decision.

        ``action`` names the tool node whose next call is under review; approving (or
        editing) authorises exactly that call. Without ``action`` the gate asks whether the
        run may go on, for example after a verify gate escalates. A request not decided
        within ``expires_after_s`` takes the ``expired`` outcome if given, else ``rejected``.

        A rejection makes the run end ``rejected`` unless its path rejoins the approved path
        (then it is a detour and the run ends as its last gates say); pass
        ``rejection_ends_run`` to decide explicitly.
        """
        if expired is not None and expires_after_s is None:
            raise DefinitionError(
                f"approve gate {id!r} wires expired= but never expires; pass expires_after_s=..."
            )
        if expires_after_s is not None and expires_after_s <= 0:
            raise DefinitionError(f"approve gate {id!r}: expires_after_s must be > 0")
        named = reviewer_names(id, reviewers)
        outcomes = {GateOutcome.APPROVED.value: approved, GateOutcome.REJECTED.value: rejected}
        if expired is not None:
            outcomes[GateOutcome.EXPIRED.value] = expired
        require_wired(
            id,
            "approve gate",
            outcomes,
            {GateOutcome.APPROVED.value: "approved", GateOutcome.REJECTED.value: "rejected"},
        )

        def make() -> RailNode:
            tool_node = self._resolve_action(id, action)
            tool = (
                self.tools[tool_node.tool] if tool_node and tool_node.tool in self.tools else None
            )
            escalated = tuple(
                n.id
                for n in self._nodes.values()
                if isinstance(n, VerifyNode) and n.targets.get(GateOutcome.FAIL) == id
            )
            return ApproveNode(
                id=id,
                label=label,
                targets=_targets(outcomes),
                action=tool_node,
                tool=tool,
                policy=self.policy.describe(tool) if tool else "",
                reason=reason,
                escalated_from=escalated,
                reviewers=named,
                allow_self_approval=allow_self_approval,
                expires_after_s=expires_after_s,
                rejection_ends_run=True if rejection_ends_run is None else rejection_ends_run,
            )

        if rejection_ends_run is None:
            self._detour_checks.add(id)
        self._add(id, make)
        self._approve_ids.add(id)
        return self

    def edge(self, source: str | Sequence[str], target: str) -> Self:
        """Add a plain edge; use ``START`` as the source of the first node and ``END`` as
        the target of the last.

        Several edges out of one node run their targets in parallel. A sequence of sources
        joins parallel branches: ``target`` runs once, after all of them have finished.
        """
        if isinstance(source, str):
            self._edges.append((source, target))
        else:
            sources = tuple(source)
            if len(sources) < 2:
                raise DefinitionError(
                    f"a join into {target!r} needs at least two sources; for one, pass it "
                    "as a plain string: g.edge('node', ...)"
                )
            self._joins.append((sources, target))
        return self

    # -- build -------------------------------------------------------------------------------

    def build(self) -> RailGraph:
        """Check the declaration and build the spec and the LangGraph graph.

        Raises:
            DefinitionError: Listing every problem found, each naming the node and the fix.
        """
        # Approve gates last, so they can resolve the tool nodes they review and the verify
        # gates that escalate to them; then back to declaration order.
        self._nodes = {}
        for late in (False, True):
            for node_id, make in self._pending.items():
                if (node_id in self._approve_ids) is late:
                    self._nodes[node_id] = make()
        self._nodes = {node_id: self._nodes[node_id] for node_id in self._pending}
        declared = Declaration(
            name=self.name,
            state=self.state,
            nodes=self._nodes,
            edges=tuple(self._edges),
            joins=tuple(self._joins),
            tools=self.tools,
            policy=self.policy,
            budget=self.budget_envelope,
        )
        spec = build_spec(declared)
        check_graph(spec, self._nodes, self.tools, self.policy)
        for gate_id in self._detour_checks:
            gate = self._nodes[gate_id]
            assert isinstance(gate, ApproveNode)
            approved, rejected = GateOutcome.APPROVED, GateOutcome.REJECTED
            ends = not rejoins(spec, gate.targets[approved], gate.targets[rejected])
            self._nodes[gate_id] = dataclasses.replace(gate, rejection_ends_run=ends)
        model = state_model(self.state)
        return RailGraph(
            name=self.name,
            spec=spec,
            state=self.state,
            state_model=model,
            nodes=dict(self._nodes),
            tools=self.tools,
            policy=self.policy,
            budget=self.budget_envelope,
            prices=self.prices,
            builder=build_langgraph(declared, self._nodes, model),
            description=self.description,
            module=self.module,
            owner=self.owner,
            checks=self.checks,
            declaration=declared,
        )

    # -- helpers -----------------------------------------------------------------------------

    def _resolve_action(self, gate: str, action: str | None) -> ToolNode | None:
        if action is None:
            return None
        node = self._nodes.get(action)
        if not isinstance(node, ToolNode):
            what = "is not declared" if node is None else f"is a {node.kind.value} node"
            raise DefinitionError(
                f"approve gate {gate!r} reviews action {action!r}, which {what}; "
                "action= must name a tool node declared with g.tool(...)"
            )
        return node


def _targets(outcomes: Mapping[str, str | None]) -> dict[str, str]:
    return {outcome: target for outcome, target in outcomes.items() if target is not None}
