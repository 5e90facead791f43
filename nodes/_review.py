"""Review requests that approve gates raise, and the decisions people answer them with."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Decision", "ReviewAction", "ReviewRequest"]


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
    kind: Literal["approval", "unknown_effect"] = "approval"
    """``approval``: may the action run? ``unknown_effect``: a crash left the outcome of this
    call unknown — approve to send it again (it did not happen), reject to stop the run."""
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


class Decision(BaseModel):
    """A reviewer's answer to a review request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Literal["approve", "edit", "reject", "expire"]
    """Approve as proposed, approve with edited arguments, reject, or (taken by railgraph
    when nobody decided in time) expire."""
    by: str = Field(min_length=1)
    """The reviewer's name."""
    args: dict[str, Any] | None = None
    """For ``edit``: fields merged into the proposed arguments."""
    reason: str | None = None
    """Why; required for ``reject``."""
    at: float = 0.0
    """When the decision was taken (unix seconds)."""
    reviewed: dict[str, Any] | None = None
    """The arguments the reviewer was shown; the gate refuses to act if the call differs."""

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.decision == "edit" and not self.args:
            raise ValueError("an edit needs the changed arguments, e.g. --edit '{\"amount\": 50}'")
        if self.decision in ("reject", "expire") and not (self.reason and self.reason.strip()):
            raise ValueError("a rejection needs a reason, e.g. --reason 'duplicate request'")
        if self.decision != "edit" and self.args:
            raise ValueError("arguments can only be given with an edit")
        return self

    @property
    def approved(self) -> bool:
        """Whether the action may go ahead."""
        return self.decision in ("approve", "edit")
