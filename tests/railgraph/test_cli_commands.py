"""The command table the CLI starts from: a command line registers only the command it names."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from railgraph._cli import COMMANDS, OPTIONS_WITH_VALUES, app

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys
registered, sys.argv = sys.argv[1], ["railgraph", *sys.argv[2:]]
if registered == "all":
    from railgraph._cli import app  # registers every command
from railgraph._cli import main
main()
"""


def test_the_table_names_every_command_and_the_module_that_defines_it() -> None:
    defined: dict[str, str] = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        defined[name] = command.callback.__module__
    for group in app.registered_groups:
        instance = group.typer_instance
        name = group.name or instance.info.name
        assert isinstance(name, str)
        (module,) = {
            m
            for m in set(COMMANDS.values())
            if instance in vars(importlib.import_module(m)).values()
        }
        defined[name] = module

    assert defined == COMMANDS
    assert list(typer.main.get_command(app).commands) == list(COMMANDS)  # the order of --help


def test_the_apps_own_options_that_take_a_value_are_known() -> None:
    group = typer.main.get_command(app)
    valued = {
        opt
        for param in group.params
        if isinstance(param, typer.core.TyperOption) and not param.is_flag
        for opt in param.opts
    }
    assert valued == OPTIONS_WITH_VALUES


@pytest.mark.slow
def test_the_command_after_the_apps_own_db_option_is_found(tmp_path: Path) -> None:
    # `runs` as --db's value (a file that does not exist: an empty store), `pending` (of
    # another module) as the command.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "one", "--db", "runs", "pending"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "no pending review requests\n", "")


def test_no_command_lists_them_all_and_a_misspelt_one_gets_advice() -> None:
    done = CliRunner().invoke(app, ["--help"])
    assert done.exit_code == 0
    listed = done.stdout.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines() if line[2:3] != " "] == list(COMMANDS)

    done = CliRunner().invoke(app, ["serv"])
    assert done.exit_code == 2
    assert "No such command 'serv'. Did you mean 'serve', 'users'?" in done.stderr


def test_cancel_says_it_stops_running_runs_too() -> None:
    done = CliRunner().invoke(app, ["cancel", "--help"])
    assert done.exit_code == 0
    assert " ".join(done.stdout.split("\n\n")[1].split()) == (
        "Stop a paused or running run for good; it ends cancelled and makes no further LLM "
        "or tool call."
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_alone_has_the_help_it_has_among_all(name: str) -> None:
    def help_text(registered: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, registered, name, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stdout

    alone, among_all = help_text("one"), help_text("all")

    assert alone == among_all
    assert alone[0] == 0
    assert alone[1].startswith(f"Usage: railgraph {name} [OPTIONS]")


_GC_PROBE = """
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(f"GC:{gc.isenabled()}\\n"))
sys.argv = ["railgraph", *sys.argv[1:]]
from railgraph._cli import main
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "collector"),
    [
        (["--help"], False),
        (["runs"], False),
        (["show", "no-such-run"], False),
        (["pending", "--json"], False),
        (["spec", "railgraph.graphs.refund:graph"], True),
        (["expire"], True),
    ],
    ids=lambda c: "-".join(c) if isinstance(c, list) else str(c),
)
def test_only_help_and_the_brief_reading_commands_run_without_the_cyclic_collector(
    tmp_path: Path, command: list[str], collector: bool
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RAILGRAPH_DB": str(tmp_path / "rg.db")},
    )

    assert done.stderr.strip().splitlines()[-1] == f"GC:{collector}", done.stderr
