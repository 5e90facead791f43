"""A small MCP server over stdio for the agent tests: a notes file it reads and appends to."""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.fastmcp import FastMCP

NOTES = Path(sys.argv[1])
server = FastMCP("notes")


@server.tool()
def add_note(text: str) -> str:
    """Append a note."""
    with NOTES.open("a") as f:
        f.write(text + "\n")
    return f"noted {text}"


@server.tool()
def count_notes() -> int:
    """How many notes there are."""
    return len(NOTES.read_text().splitlines()) if NOTES.exists() else 0


@server.tool()
def erase_notes() -> str:
    """Erase every note."""
    NOTES.write_text("")
    return "erased"


if __name__ == "__main__":
    server.run("stdio")
