"""Budget envelopes, usage accounting and model prices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from railgraph.errors import InputError

__all__ = [
    "DIMENSIONS",
    "BudgetEnvelope",
    "ModelPrice",
    "PriceTable",
    "Usage",
    "add_usage",
]

DIMENSIONS: tuple[str, ...] = (
    "steps",
    "llm_calls",
    "tool_calls",
    "tokens",
    "cost_usd",
    "wall_s",
    "retries",
)
"""The budget's dimensions, in the order reports list them."""

_AFTER_THE_FACT = frozenset({"tokens", "cost_usd", "wall_s"})
_INTEGER_DIMENSIONS = frozenset({"steps", "llm_calls", "tool_calls", "tokens", "retries"})


class BudgetEnvelope(BaseModel):
    """The most a run may spend; ``None`` leaves a dimension unlimited.

    A graph declares one envelope; a run may override any field of it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int | None = Field(default=None, ge=0)
    """Node executions, gates included."""
    llm_calls: int | None = Field(default=None, ge=0)
    """Chat model calls."""
    tool_calls: int | None = Field(default=None, ge=0)
    """Tool calls, retries included."""
    tokens: int | None = Field(default=None, ge=0)
    """Input plus output tokens, as the model reports them in ``usage_metadata``."""
    cost_usd: float | None = Field(default=None, ge=0)
    """Spend on model calls, priced with the graph's price table."""
    wall_s: float | None = Field(default=None, ge=0)
    """Seconds spent running nodes; time paused for a person does not count."""
    retries: int | None = Field(default=None, ge=0)
    """Tool retries after transient errors plus verify-gate retries."""

    def limits(self) -> dict[str, int | float]:
        """The dimensions that have a limit, with their limits."""
        return {d: v for d in DIMENSIONS if (v := getattr(self, d)) is not None}

    def override(self, changes: Mapping[str, Any]) -> BudgetEnvelope:
        """A copy with some limits replaced, validated like the original.

        Raises:
            InputError: A key is not a budget dimension or a value is not a non-negative number.
        """
        unknown = sorted(set(changes) - set(DIMENSIONS))
        if unknown:
            raise InputError(
                f"unknown budget dimension {', '.join(map(repr, unknown))}; "
                f"use one of {', '.join(DIMENSIONS)} (for example --budget tool_calls=5)"
            )
        try:
            return BudgetEnvelope.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(
                f"bad budget override ({problems}); give non-negative numbers, "
                "for example --budget cost_usd=0.50"
            ) from None

    @classmethod
    def parse_overrides(cls, pairs: list[str]) -> dict[str, float]:
        """Turn ``KEY=VALUE`` strings from the command line into override values.

        Raises:
            InputError: A pair is not ``KEY=VALUE`` or the value is not a number.
        """
        out: dict[str, float] = {}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise InputError(f"bad --budget {pair!r}; write KEY=VALUE, e.g. tool_calls=2")
            try:
                number = float(raw)
            except ValueError:
                raise InputError(
                    f"bad --budget {pair!r}: {raw!r} is not a number; e.g. {key}=2"
                ) from None
            is_int = key in _INTEGER_DIMENSIONS and number.is_integer()
            out[key] = int(number) if is_int else number
        return out


class Usage(BaseModel):
    """What a run has spent so far, in the envelope's dimensions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = 0
    """Node executions, gates included."""
    llm_calls: int = 0
    """Chat model calls."""
    tool_calls: int = 0
    """Tool calls, retries included."""
    tokens: int = 0
    """Input plus output tokens."""
    input_tokens: int = 0
    """Prompt tokens."""
    output_tokens: int = 0
    """Completion tokens."""
    cost_usd: float = 0.0
    """Spend on model calls."""
    wall_s: float = 0.0
    """Seconds spent running nodes."""
    retries: int = 0
    """Tool and verify retries."""

    def plus(self, **delta: float) -> Usage:
        """A copy with the given amounts added."""
        data = dict(self.__dict__)  # the fields' values, without a dump per call
        for key, amount in delta.items():
            data[key] = data[key] + amount
        return Usage.model_validate(data)

    def over(
        self, envelope: BudgetEnvelope, needs: Mapping[str, float] | None = None
    ) -> str | None:
        """The first dimension that stops work needing ``needs`` from starting, or ``None``.

        The one budget predicate: the runtime asks it before every node, LLM call, tool call
        and retry (each needs one of its counter), and budget gates ask it for what they
        reserve, so a gate and the runtime never disagree.

        Args:
            envelope: The limits in force.
            needs: What the work adds, per dimension (``{"tool_calls": 1}`` for a tool call).

        A dimension stops the work when what is used plus what is needed passes its limit.
        Tokens, cost and time are only known after a call, so they also stop it once they
        have reached their limit.
        """
        wanted = needs or {}
        for dim, limit in envelope.limits().items():
            used = float(getattr(self, dim))
            if used + float(wanted.get(dim, 0)) > limit or (
                dim in _AFTER_THE_FACT and used >= limit
            ):
                return dim
        return None


def add_usage(left: Mapping[str, float], right: Mapping[str, float]) -> dict[str, float]:
    """Reducer for the usage channel: usage deltas add up, key by key."""
    out = dict(left)
    for key, value in right.items():
        out[key] = out.get(key, 0) + value
    return out


class ModelPrice(BaseModel):
    """What one model charges, in US dollars per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: float = Field(ge=0)
    """Price of a million prompt tokens."""
    output_per_mtok: float = Field(ge=0)
    """Price of a million completion tokens."""

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The price of one call."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


class PriceTable(BaseModel):
    """Prices by model name; a model missing from the table costs nothing and says so in events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Model name to price."""

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or ``None`` when the table does not list it."""
        return self.prices.get(model)
