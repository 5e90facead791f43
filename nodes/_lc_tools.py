"""LangChain tools (``@tool`` functions, ``BaseTool``, ``StructuredTool``) as railgraph tools.

A LangChain tool brings its name, description and argument schema; railgraph adds what it
needs to put the tool on rails: a risk tier (so the policy can decide its calls), a timeout,
retries and an output schema. Tools whose argument schema is JSON Schema rather than a
pydantic model (tools loaded from an MCP server) get a pydantic model built from it, so
their arguments are validated like any other tool's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, create_model

from railgraph.errors import DefinitionError
from railgraph.nodes._kinds import ToolTier

if TYPE_CHECKING:
    from railgraph.nodes._tools import ToolRegistry, ToolSpec

__all__ = ["ToolOutput", "register_langchain_tool"]


class ToolOutput(BaseModel):
    """What a LangChain tool returned, when no output schema is given."""

    output: Any
    """The tool's return value (an MCP tool's text content, a function's value)."""


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
}


def model_from_json_schema(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model for a JSON Schema object: its properties, types and required ones.

    Nested schemas are checked as plain lists and objects; unknown fields are refused.
    """
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for field, prop in (schema.get("properties") or {}).items():
        kind = _JSON_TYPES.get(str(prop.get("type")), Any)
        described = Field(description=prop.get("description"))
        if field in required:
            fields[field] = (kind, described)
        else:
            fields[field] = (
                kind | None,
                Field(default=prop.get("default"), description=prop.get("description")),
            )
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_")) + "Args"
    model: type[BaseModel] = create_model(
        title, __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields
    )
    return model


def _input_schema(tool: BaseTool) -> type[BaseModel]:
    schema = tool.args_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema
    if isinstance(schema, dict):
        return model_from_json_schema(tool.name, schema)
    found = tool.get_input_schema()
    if isinstance(found, type) and issubclass(found, BaseModel):
        return found
    raise DefinitionError(
        f"LangChain tool {tool.name!r} has no argument schema railgraph can read; give it "
        "args_schema= (a pydantic model)"
    )


def register_langchain_tool(
    registry: ToolRegistry,
    tool: BaseTool,
    *,
    tier: ToolTier | str,
    name: str | None = None,
    output: type[BaseModel] | None = None,
    timeout_s: float = 30.0,
    retries: int = 0,
    idempotent: bool = False,
    description: str | None = None,
) -> ToolSpec:
    """Register a LangChain tool on ``registry`` with a tier (see
    :meth:`ToolRegistry.register_langchain`)."""
    if not isinstance(tool, BaseTool):
        raise DefinitionError(
            f"{tool!r} is not a LangChain tool; decorate the function with "
            "langchain_core.tools.tool, or register it with tools.tool(tier=...)"
        )
    schema = _input_schema(tool)

    async def call(args: BaseModel) -> Any:
        value = await tool.ainvoke(args.model_dump(exclude_none=True))
        if output is not None:
            return value
        if isinstance(value, tuple) and len(value) == 2 and tool.response_format != "content":
            value = value[0]  # (content, artifact): the model sees the content
        return ToolOutput(output=_plain_content(value))

    call.__name__ = name or tool.name
    return registry.register(
        call,
        tier=tier,
        name=name or tool.name,
        input=schema,
        output=output or ToolOutput,
        timeout_s=timeout_s,
        retries=retries,
        idempotent=idempotent,
        description=description or tool.description,
    )


def _plain_content(value: Any) -> Any:
    """Text content blocks (an MCP tool's result) as their text; other values as they are.

    Blocks carry random ids, which would make equal results differ in the ledger and the
    model's messages.
    """
    if (
        isinstance(value, list)
        and value
        and all(isinstance(b, dict) and b.get("type") == "text" for b in value)
    ):
        return "\n".join(str(b.get("text", "")) for b in value)
    return value
