"""The ``railgraph`` command: run graphs, list and show runs, decide review requests, draw.

Exit codes: 0 the run completed or is paused; 1 it failed, was rejected, was cancelled or ran
out of budget; 2 the command was used wrongly (bad input, unknown run, refused decision).
"""

from railgraph import _cli_render, _cli_review, _cli_runs, _cli_web
from railgraph._cli_app import app

__all__ = ["app", "main"]

# Importing the command modules registers their commands on the app.
_COMMANDS = (_cli_runs, _cli_review, _cli_render, _cli_web)


def main() -> None:
    """Entry point of the ``railgraph`` console script."""
    app()
