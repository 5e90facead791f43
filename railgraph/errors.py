"""The one exception tree of railgraph.

This module imports nothing of the project, so every package (``nodes``,
``checkpointers``, ``verifiers``, ``visualize``) may raise these errors without
an import cycle::

    RailgraphError
    ├── DefinitionError          a graph is declared wrongly (raised at build time)
    ├── RunError                 a run cannot go on
    │   ├── RouteError           a route returned a target it did not declare
    │   ├── PolicyError          a tool call the graph's policy refuses
    │   ├── ToolError            a tool failed, timed out or returned bad output
    │   │   └── EffectRefused    a person refused to send again a call of unknown outcome
    │   ├── BudgetExhausted      a call would start over the run's envelope
    │   ├── VerificationFailed   a verify gate failed with no way left to recover
    │   ├── ApprovalRejected     a person rejected the action under review
    │   └── RunCancelled         a person stopped the run
    ├── DecisionError            a decision that cannot be taken (unknown, decided, bad edit)
    ├── RunBusy                  another live process drives the run (holds its lease)
    ├── InputError               a run's input, a budget override or a reference is malformed
    ├── RenderError              a diagram cannot be rendered (no Graphviz, unknown format)
    └── StoreError               the checkpoint or run store cannot do what was asked
        ├── SchemaVersionError   the database was written by a newer railgraph
        └── RunInterrupted       a database fault stopped a run; it resumes once cleared

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ApprovalRejected",
    "BudgetExhausted",
    "DecisionError",
    "DefinitionError",
    "EffectRefused",
    "InputError",
    "PolicyError",
    "RailgraphError",
    "RenderError",
    "RouteError",
    "RunBusy",
    "RunCancelled",
    "RunError",
    "RunInterrupted",
    "SchemaVersionError",
    "StoreError",
    "ToolError",
    "VerificationFailed",
]


class RailgraphError(Exception):
    """Root of every error railgraph raises on purpose."""


class DefinitionError(RailgraphError):
    """A graph is declared wrongly; raised by the builder before anything runs."""


class RunError(RailgraphError):
    """A run cannot go on."""


class RouteError(RunError):
    """A route returned a target it did not declare."""


class PolicyError(RunError):
    """The graph's tool policy refuses a call (blocked, undeclared or unapproved)."""


class ToolError(RunError):
    """A tool failed for good: a permanent error, a timeout after retries, or bad output."""


class EffectRefused(ToolError):
    """A person chose not to send again a call whose outcome a crash left unknown.

    It stops the run wherever the call was made: an agent does not hand it to its model
    as it does other tool errors, so the model cannot make the call again under a new id.
    """


class BudgetExhausted(RunError):
    """A call would start over the run's budget envelope.

    Attributes:
        dimension: The envelope field that ran out, such as ``"tool_calls"``.
        used: How much of it was used, when known.
        limit: Its limit, when known.
        refused: The work that was not started, such as ``"a call to tool 'send'"``.
    """

    def __init__(
        self,
        message: str,
        *,
        dimension: str,
        used: float | None = None,
        limit: float | None = None,
        refused: str | None = None,
    ) -> None:
        super().__init__(message)
        self.dimension = dimension
        self.used = used
        self.limit = limit
        self.refused = refused

    def details(self) -> dict[str, object]:
        """The refusal as event data: dimension, used, limit and what was refused."""
        return {
            "dimension": self.dimension,
            "used": self.used,
            "limit": self.limit,
            "refused": self.refused,
        }


class VerificationFailed(RunError):
    """A verify gate failed and its declared outcome is to fail the run."""


class ApprovalRejected(RunError):
    """A person rejected the action under review."""


class RunCancelled(RunError):
    """A person stopped the run with the kill switch."""


class DecisionError(RailgraphError):
    """A review decision that cannot be taken; the request is left as it was."""


class RunBusy(RailgraphError):
    """Another live process drives the run (it holds the run's lease); nothing was changed."""


class InputError(RailgraphError):
    """A run's input, a budget override or a graph reference is malformed."""


class RenderError(RailgraphError):
    """A diagram cannot be written: Graphviz's ``dot`` is missing, or the format is unknown."""


class StoreError(RailgraphError):
    """The checkpoint or run store cannot do what was asked."""


class SchemaVersionError(StoreError):
    """The database was written by a newer railgraph than the one running."""


class RunInterrupted(StoreError):
    """A database fault (disk full, I/O error) stopped a run; it stays resumable.

    Attributes:
        run_id: The run, still ``running`` with no driver: ``railgraph resume`` continues it.
    """

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id
