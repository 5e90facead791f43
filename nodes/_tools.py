"""The tool registry and the policy that decides which calls may run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict

from railgraph.errors import DefinitionError, PolicyError
from railgraph.nodes._kinds import PolicyAction, ToolTier

__all__ = [
    "ToolCall",
    "ToolPolicy",
    "ToolRegistry",
    "ToolSpec",
    "TransientToolError",
]

F = TypeVar("F", bound=Callable[..., Any])


class TransientToolError(Exception):
    """Raise from a tool for a failure worth retrying (a 503, a dropped connection).

    Any other exception is permanent: the tool is not called again.
    """


@dataclass(frozen=True)
class ToolCall:
    """What a tool function may ask about the call it is serving (pass a second parameter)."""

    run_id: str
    """The run making the call."""
    node: str
    """The node making the call."""
    attempt: int
    """1 for the first try, 2 for the first retry, …"""
    idempotency_key: str | None
    """Derived from run, node and arguments for tiers with effects; hand it to the system
    the tool changes so that it can drop a repeat."""


@dataclass(frozen=True)
class ToolSpec:
    """A registered tool."""

    name: str
    """Name that graphs and policies refer to."""
    fn: Callable[..., Any]
    """The implementation: ``fn(args)`` or ``fn(args, call)``, sync or async."""
    tier: ToolTier
    """Risk tier."""
    input: type[BaseModel]
    """Schema the arguments are validated against."""
    output: type[BaseModel]
    """Schema the result is validated against."""
    timeout_s: float = 30.0
    """Seconds one attempt may take."""
    retries: int = 0
    """Further attempts after a transient error or a timeout."""
    description: str = ""
    """What the tool does, for reviewers and diagrams."""
    idempotent: bool = False
    """The tool hands :attr:`ToolCall.idempotency_key` to the system it changes, which drops
    a repeat; so after a crash left the outcome unknown, calling again is safe."""
    wants_call: bool = field(default=False)
    """Whether ``fn`` takes the :class:`ToolCall` as a second parameter."""


class ToolRegistry:
    """The tools a graph may call; a graph can call nothing that is not registered here."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def tool(
        self,
        *,
        tier: ToolTier | str,
        name: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 0,
        idempotent: bool = False,
        description: str | None = None,
    ) -> Callable[[F], F]:
        """Register a function as a tool; schemas come from its annotations.

        The first parameter's annotation is the input schema and the return annotation the
        output schema; both must be pydantic models.

        Example:
            >>> tools = ToolRegistry()
            >>> class In(BaseModel):
            ...     ticket_id: str
            >>> class Out(BaseModel):
            ...     subject: str
            >>> @tools.tool(tier="read")
            ... def load_ticket(args: In) -> Out:
            ...     return Out(subject="refund please")
            >>> tools["load_ticket"].tier
            <ToolTier.READ: 'read'>
        """

        def register(fn: F) -> F:
            self.register(
                fn,
                tier=tier,
                name=name,
                timeout_s=timeout_s,
                retries=retries,
                idempotent=idempotent,
                description=description,
            )
            return fn

        return register

    def register(
        self,
        fn: Callable[..., Any],
        *,
        tier: ToolTier | str,
        name: str | None = None,
        input: type[BaseModel] | None = None,
        output: type[BaseModel] | None = None,
        timeout_s: float = 30.0,
        retries: int = 0,
        idempotent: bool = False,
        description: str | None = None,
    ) -> ToolSpec:
        """Register ``fn`` as a tool and return its spec.

        Set ``idempotent`` only if ``fn`` passes ``call.idempotency_key`` to the system it
        changes and that system ignores a repeated key: then a call whose outcome a crash
        left unknown is sent again; otherwise it is surfaced and never repeated.

        Raises:
            DefinitionError: The name is taken, the tier is unknown, or a schema is missing.
        """
        tool_name = name or fn.__name__
        if tool_name in self._tools:
            raise DefinitionError(
                f"tool {tool_name!r} is registered twice; give one of them another name= "
            )
        try:
            tool_tier = ToolTier(tier)
        except ValueError:
            raise DefinitionError(
                f"tool {tool_name!r} has unknown tier {tier!r}; "
                f"use one of {', '.join(t.value for t in ToolTier)}"
            ) from None
        params = list(inspect.signature(fn).parameters.values())
        hints = get_type_hints(fn)
        in_schema = input or (hints.get(params[0].name) if params else None)
        out_schema = output or hints.get("return")
        for role, schema in (("input", in_schema), ("output", out_schema)):
            if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
                raise DefinitionError(
                    f"tool {tool_name!r} needs a pydantic {role} schema; annotate "
                    f"{'its first parameter' if role == 'input' else 'its return type'} with a "
                    f"BaseModel subclass or pass {role}=Model to register()"
                )
        if timeout_s <= 0 or retries < 0:
            raise DefinitionError(
                f"tool {tool_name!r}: timeout_s must be > 0 and retries >= 0 "
                f"(got timeout_s={timeout_s}, retries={retries})"
            )
        assert in_schema is not None and out_schema is not None
        spec = ToolSpec(
            name=tool_name,
            fn=fn,
            tier=tool_tier,
            input=in_schema,
            output=out_schema,
            timeout_s=timeout_s,
            retries=retries,
            idempotent=idempotent,
            description=description or inspect.getdoc(fn) or "",
            wants_call=len(params) >= 2,
        )
        self._tools[tool_name] = spec
        return spec

    def register_langchain(
        self,
        tool: Any,
        *,
        tier: ToolTier | str,
        name: str | None = None,
        output: type[BaseModel] | None = None,
        timeout_s: float = 30.0,
        retries: int = 0,
        idempotent: bool = False,
        description: str | None = None,
    ) -> ToolSpec:
        """Register a LangChain tool (``@tool`` function, ``BaseTool``, ``StructuredTool``,
        or one loaded from an MCP server) with a tier; its schema becomes the input schema.

        Its result is validated against ``output`` if given, else wrapped as
        ``{"output": value}``.

        Raises:
            DefinitionError: Not a LangChain tool, a name taken, or no readable schema.
        """
        from railgraph.nodes._lc_tools import register_langchain_tool

        return register_langchain_tool(
            self,
            tool,
            tier=tier,
            name=name,
            output=output,
            timeout_s=timeout_s,
            retries=retries,
            idempotent=idempotent,
            description=description,
        )

    def __getitem__(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise PolicyError(
                f"tool {name!r} is not declared by this graph (declared: {known}); "
                "register it on the graph's ToolRegistry"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)


PolicyRule = PolicyAction | str | Callable[[Mapping[str, Any]], PolicyAction | str]
"""A fixed action, or a function of the call's arguments that returns one."""

_DEFAULT_TIERS: Mapping[ToolTier, PolicyAction] = {
    ToolTier.READ: PolicyAction.AUTO,
    ToolTier.WRITE: PolicyAction.AUTO,
    ToolTier.EXTERNAL: PolicyAction.AUTO,
    ToolTier.IRREVERSIBLE: PolicyAction.APPROVE,
}


class ToolPolicy(BaseModel):
    """Maps tool tiers and names to ``auto``, ``approve`` or ``block``.

    A rule for a tool's name wins over the rule for its tier. By default read, write and
    external tools run on their own and irreversible ones need a person's approval.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    tiers: dict[ToolTier, PolicyAction] = dict(_DEFAULT_TIERS)
    """Action per tier; tiers left out keep the default."""
    tools: dict[str, PolicyRule] = {}
    """Action per tool name, or a function of the arguments that returns one."""

    def action(self, tool: ToolSpec, args: Mapping[str, Any]) -> PolicyAction:
        """The action for one call of ``tool`` with ``args``."""
        rule = self.tools.get(tool.name)
        if rule is None:
            return self.tiers.get(tool.tier, _DEFAULT_TIERS[tool.tier])
        if callable(rule):
            rule = rule(args)
        return PolicyAction(rule)

    def describe(self, tool: ToolSpec) -> str:
        """The rule for ``tool`` in words, for reviews and diagrams."""
        rule = self.tools.get(tool.name)
        if rule is None:
            return str(self.tiers.get(tool.tier, _DEFAULT_TIERS[tool.tier]))
        if callable(rule):
            return "conditional"
        return str(PolicyAction(rule))

    def may_need_approval(self, tool: ToolSpec) -> bool:
        """Whether some call of ``tool`` could need a person's approval."""
        return self.describe(tool) in (PolicyAction.APPROVE, "conditional")
