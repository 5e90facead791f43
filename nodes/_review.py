"""Review requests that approve gates raise, and the decisions people answer them with."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from railgraph.vocab import DecisionKind, ReviewKind

__all__ = ["Decision", "ReviewAction", "ReviewRequest", "person_name", "same_person"]


def person_name(text: str, what: str = "a reviewer's name") -> str:
    """A person's name as railgraph keeps it: trimmed, never empty.

    Raises:
        ValueError: The name is empty or only whitespace.
    """
    name = text.strip()
    if not name:
        raise ValueError(f"{what} must not be empty; give a name, e.g. --by alice")
    return name


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two claimed names name one person: trimmed and compared case-insensitively."""
    if a is None or b is None:
        return False
    return a.strip().casefold() == b.strip().casefold()


class ReviewAction(BaseModel):
    """The tool call a reviewer is asked to allow."""

    model_config = ConfigDict(frozen=True)

    node: str
    """The tool node that will make the call."""
    tool: str
    """The tool's name."""
    args: dict[str, Any]
    """The arguments it proposes."""
    tier: str
    """The tool's risk tier."""
    policy: str
    """What the graph's policy says of this tool."""
    description: str = ""
    """What the tool does."""


class ReviewRequest(BaseModel):
    """What an approve gate asks a person, with the context to decide."""

    model_config = ConfigDict(frozen=True)

    gate: str
    """The node asking: an approve gate, or a tool node whose effect's outcome is unknown."""
    kind: ReviewKind = ReviewKind.APPROVAL
    """``approval``: may the action run? ``unknown_effect``: a crash left the outcome of this
    call unknown — approve to send it again (it did not happen), ``happened`` with the observed
    result (it did; the run goes on with that result), or reject to stop the run."""
    action: ReviewAction | None
    """The call under review; ``None`` when the gate asks whether the run may go on."""
    reason: str
    """Why the gate fired."""
    spend: dict[str, float]
    """The run's usage so far."""
    failures: list[dict[str, Any]] = Field(default_factory=list)
    """Verification failures that escalated the run here."""
    reviewers: list[str] = Field(default_factory=list)
    """Who may decide; anyone when empty."""
    allow_self_approval: bool = True
    """Whether the person who started the run may approve it."""
    expires_after_s: float | None = None
    """Seconds until the request takes the gate's timeout outcome; never when unset."""
    call_id: str | None = None
    """For a call an agent's model chose: the model's tool_call_id; a decision binds to it."""
    turn: int | None = None
    """For a call an agent's model chose: the model turn that made it (1 for the first)."""
    rule: str | None = None
    """The policy rule that asked for this review (by tier, by name, or on the arguments)."""
    conversation: list[dict[str, Any]] = Field(default_factory=list)
    """For an agent's call: the last messages of its conversation, as ``{"role", "content"}``
    (the shape the review page shows)."""
    effect: str | None = None
    """For ``unknown_effect``: the idempotency key of the effect asked about; a decision
    binds to it."""


class Decision(BaseModel):
    """A reviewer's answer to a review request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: DecisionKind
    """Approve as proposed, approve with edited arguments, reject, (taken by railgraph when
    nobody decided in time) expire, or — for an effect a crash left unknown — say that it
    happened, with the result observed in the target system."""
    by: str
    """The reviewer's name as they gave it (trimmed; never empty)."""
    args: dict[str, Any] | None = None
    """For ``edit``: fields merged into the proposed arguments."""
    result: dict[str, Any] | None = None
    """For ``happened``: the call's result as observed, validated against the tool's output
    schema; the run goes on with it as if the call had returned it."""
    reason: str | None = None
    """Why; required for ``reject``."""
    at: float = 0.0
    """When the decision was taken (unix seconds)."""
    reviewed: dict[str, Any] | None = None
    """The arguments the reviewer was shown; the gate refuses to act if the call differs."""
    os_user: str | None = None
    """The operating-system user of the process that recorded the decision (the claimed
    name in ``by`` is not checked; this is)."""
    host: str | None = None
    """The host that recorded the decision."""
    effect: str | None = None
    """For a request about an effect a crash left unknown: that effect's idempotency key, as
    the request named it, so that an answer never passes for one about another effect."""

    @field_validator("by")
    @classmethod
    def _named(cls, by: str) -> str:
        return person_name(by)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.decision == DecisionKind.EDIT and not self.args:
            raise ValueError("an edit needs the changed arguments, e.g. --edit '{\"amount\": 50}'")
        if self.decision in (DecisionKind.REJECT, DecisionKind.EXPIRE) and not (
            self.reason and self.reason.strip()
        ):
            raise ValueError("a rejection needs a reason, e.g. --reason 'duplicate request'")
        if self.decision != DecisionKind.EDIT and self.args:
            raise ValueError("arguments can only be given with an edit")
        if self.decision == DecisionKind.HAPPENED and self.result is None:
            raise ValueError(
                "saying an effect happened needs the result observed, "
                "e.g. --happened '{\"refund_id\": 7}'"
            )
        if self.decision != DecisionKind.HAPPENED and self.result is not None:
            raise ValueError("a result can only be given when saying an effect happened")
        return self

    @property
    def approved(self) -> bool:
        """Whether the action may go ahead."""
        return self.decision.approves
