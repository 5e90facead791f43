"""Tools from an MCP server, through ``langchain-mcp-adapters``, registered with tiers.

Install the extra: ``pip install 'railgraph[mcp]'``. Each tool the server lists becomes a
railgraph tool: its JSON Schema becomes a strict input model and the graph's policy decides
its calls by the tier given here, like any other tool's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from railgraph.errors import DefinitionError
from railgraph.nodes._kinds import ToolTier

if TYPE_CHECKING:
    from railgraph.nodes._tools import ToolRegistry, ToolSpec

__all__ = ["load_mcp_tools"]


async def load_mcp_tools(
    registry: ToolRegistry,
    connection: Mapping[str, Any],
    *,
    tier: ToolTier | str,
    tiers: Mapping[str, ToolTier | str] | None = None,
    only: set[str] | None = None,
    timeout_s: float = 30.0,
) -> list[ToolSpec]:
    """List an MCP server's tools and register them on ``registry``.

    Args:
        registry: The graph's tool registry.
        connection: A ``langchain-mcp-adapters`` connection, e.g. ``{"transport": "stdio",
            "command": "python", "args": ["server.py"]}``; each call opens its own session.
        tier: The tier of the server's tools.
        tiers: Tiers of single tools, by name, where they differ from ``tier``.
        only: Register just these tools (all when unset).
        timeout_s: Seconds one call may take.

    Raises:
        DefinitionError: ``langchain-mcp-adapters`` is not installed, or a tool in ``tiers``
            or ``only`` is not offered by the server.
    """
    try:
        from langchain_mcp_adapters.tools import load_mcp_tools as list_tools
    except ImportError:
        raise DefinitionError(
            "tools from MCP servers need langchain-mcp-adapters; pip install 'railgraph[mcp]'"
        ) from None
    offered = await list_tools(None, connection=dict(connection))  # type: ignore[arg-type]
    names = {t.name for t in offered}
    missing = sorted((set(tiers or {}) | set(only or ())) - names)
    if missing:
        raise DefinitionError(
            f"the MCP server offers no tools {missing}; it offers {sorted(names)}"
        )
    return [
        registry.register_langchain(t, tier=(tiers or {}).get(t.name, tier), timeout_s=timeout_s)
        for t in offered
        if only is None or t.name in only
    ]
