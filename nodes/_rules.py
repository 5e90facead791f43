"""Policy rules on a call's arguments, and the words that tell a reviewer which rule fired.

A :class:`ToolPolicy` maps a tool's name to a fixed action or to a function of the call's
arguments; :class:`ArgRule` is such a function that also says what it checks, so a review
request can show "create_refund: amount > 100 → approve" rather than "conditional".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from railgraph.nodes._kinds import PolicyAction
from railgraph.nodes._tools import ToolPolicy, ToolSpec

__all__ = ["ArgRule", "rule_in_words", "rule_that_fired"]


@dataclass(frozen=True)
class ArgRule:
    """``then`` when ``when(args)`` holds, else ``otherwise``; use as a ToolPolicy tool rule.

    Example:
        >>> rule = ArgRule(lambda a: a["amount"] > 100, "approve", description="amount > 100")
        >>> rule({"amount": 250}), rule({"amount": 20})
        (<PolicyAction.APPROVE: 'approve'>, <PolicyAction.AUTO: 'auto'>)
    """

    when: Callable[[Mapping[str, Any]], bool]
    """The test on the call's (validated) arguments."""
    then: PolicyAction | str
    """The action when the test holds."""
    otherwise: PolicyAction | str = PolicyAction.AUTO
    """The action when it does not."""
    description: str = "a rule on the arguments"
    """What the test checks, in words for reviewers and diagrams."""

    def __call__(self, args: Mapping[str, Any]) -> PolicyAction:
        return PolicyAction(self.then if self.when(args) else self.otherwise)


def rule_in_words(policy: ToolPolicy, tool: ToolSpec) -> str | None:
    """What an argument rule of ``policy`` for ``tool`` checks, for diagrams; else ``None``."""
    rule = policy.tools.get(tool.name)
    if isinstance(rule, ArgRule):
        then, otherwise = PolicyAction(rule.then).value, PolicyAction(rule.otherwise).value
        return f"{then} if {rule.description}, else {otherwise}"
    return None


def rule_that_fired(policy: ToolPolicy, tool: ToolSpec, args: Mapping[str, Any]) -> str:
    """Which rule of ``policy`` decided the call of ``tool`` with ``args``, and its action."""
    action = policy.action(tool, args).value
    rule = policy.tools.get(tool.name)
    if rule is None:
        return f"tier {tool.tier.value} → {action}"
    if isinstance(rule, ArgRule):
        held = "holds" if rule.when(args) else "does not hold"
        return f"{tool.name}: {rule.description} ({held}) → {action}"
    if callable(rule):
        return f"{tool.name}: a rule on the arguments → {action}"
    return f"tool {tool.name} → {action}"
