"""Commands that only read start without LangGraph or langchain-core (a fresh process each)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from railgraph import END, START, GraphBuilder, Runner
from railgraph._cli_render import FORMAT_HELP
from railgraph.nodes import ToolRegistry
from railgraph.visualize import FORMATS

pytestmark = pytest.mark.slow

_PROBE = """
import atexit, sys

def report():
    loaded = sorted(
        m for m in sys.modules if m.split(".")[0] in ("langgraph", "langchain_core")
    )
    sys.stderr.write("LOADED:" + ",".join(loaded[:3]) + "\\n")

atexit.register(report)
sys.argv = ["railgraph", *sys.argv[1:]]
from railgraph._cli import main
main()
"""


class Order(BaseModel):
    sku: str


class Receipt(BaseModel):
    order_id: int


class State(BaseModel):
    sku: str = "A-1"
    receipt: Receipt | None = None


def paused_run(db: Path) -> str:
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def place(args: Order) -> Receipt:
        return Receipt(order_id=1)

    g = GraphBuilder("restock", State, tools=tools)
    g.approve("check", action="place", approved="place", rejected=END)
    g.tool("place", args=lambda s: {"sku": s.sku}, output="receipt")
    g.edge(START, "check").edge("place", END)

    async def start() -> str:
        async with Runner.open(db) as runner:
            outcome = await runner.start(g.build(), {}, run_id="r1")
            assert outcome.status == "paused"
            return outcome.run_id

    return asyncio.run(start())


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["--version"],
        ["runs"],
        ["runs", "--json"],
        ["show", "r1"],
        ["show", "r1", "--json"],
        ["pending"],
        ["pending", "--json"],
    ],
    ids=lambda c: "-".join(c),
)
def test_a_reading_command_imports_neither_langgraph_nor_langchain_core(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "rg.db"
    paused_run(db)
    db_args = ["--db", str(db)] if command[0] in ("runs", "show", "pending") else []

    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *command, *db_args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "LOADED:"
    if command[0] == "pending" and "--json" not in command:
        assert "place" in done.stdout  # it read the queue, and found the request


def test_the_render_help_names_every_format() -> None:
    assert ", ".join(f".{ext}" for ext in FORMATS) == FORMAT_HELP


_START_PROBE = """
import atexit, os, sys

def report():
    from pydantic.plugin import _loader
    from railgraph._cli_app import app

    names = [c.callback.__name__ for c in app.registered_commands]
    writers = sorted(
        m for m in ("railgraph._cli_decide", "railgraph._cli_start", "railgraph._cli_worker",
                    "railgraph._work_queue") if m in sys.modules
    )
    scanned = _loader._plugins is not None
    sys.stderr.write(f"START:{names}:{writers}:{scanned}:{os.environ.get('PYDANTIC_DISABLE_PLUGINS')}\\n")

atexit.register(report)
sys.argv = ["railgraph", *sys.argv[1:]]
from railgraph._cli import main
main()
"""


@pytest.mark.parametrize(
    ("command", "registered"),
    [
        (["runs"], "runs"),
        (["runs", "--json"], "runs"),
        (["show", "r1"], "show"),
        (["pending"], "pending"),
    ],
    ids=lambda c: "-".join(c) if isinstance(c, list) else c,
)
def test_a_reading_command_registers_itself_alone_and_scans_no_plugins(
    tmp_path: Path, command: list[str], registered: str
) -> None:
    db = tmp_path / "rg.db"
    paused_run(db)

    done = subprocess.run(
        [sys.executable, "-c", _START_PROBE, *command, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    # Only its own command, none of the writing commands' modules, no scan of the installed
    # distributions for pydantic plugins, and the environment as it was.
    assert done.stderr.strip().splitlines()[-1] == f"START:['{registered}']:[]:False:None"
