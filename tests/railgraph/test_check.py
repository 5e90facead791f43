"""``railgraph check``: small graphs that break each policy rule, and the config that decides."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from railgraph import DefinitionError, GraphChecks
from railgraph._cli import app
from railgraph._policy_checks import RULES, check_policies
from railgraph._settings import load_graph

GRAPHS = '''
from pydantic import BaseModel

from railgraph.nodes import ToolPolicy, ToolRegistry
from railgraph import END, START, GraphBuilder, GraphChecks


class S(BaseModel):
    n: int = 0
    out: dict | None = None


class In(BaseModel):
    n: int


class Out(BaseModel):
    ok: bool


def registry(*, email_retries=0, email_idempotent=True, extra=False):
    tools = ToolRegistry()
    tools.register(lambda a: Out(ok=True), name="read_db", tier="read", input=In, output=Out)
    tools.register(
        lambda a: Out(ok=True), name="send_email", tier="external", input=In, output=Out,
        retries=email_retries, idempotent=email_idempotent,
    )
    tools.register(
        lambda a: Out(ok=True), name="wire_money", tier="irreversible", input=In, output=Out,
        idempotent=True,
    )
    if extra:
        tools.register(lambda a: Out(ok=True), name="drop_table", tier="write", input=In,
                       output=Out, idempotent=True)
    return tools


def clean(**kw):
    """Reads, asks a person (who may wait an hour), wires money, emails by explicit policy."""
    g = GraphBuilder("clean", S, tools=registry(**kw.pop("tools", {})),
                     policy=kw.pop("policy", ToolPolicy(tools={"send_email": "auto"})), **kw)
    g.tool("read_db", args=lambda s: {"n": s.n}, output="out")
    g.approve("ok_wire", action="wire_money", approved="wire_money", rejected=END,
              expires_after_s=3600)
    g.tool("wire_money", args=lambda s: {"n": s.n})
    g.tool("send_email", args=lambda s: {"n": s.n})
    g.edge(START, "read_db").edge("read_db", "ok_wire").edge("wire_money", "send_email")
    g.edge("send_email", END)
    return g.build()


ok = clean()
# The email runs on the external tier's default policy: nobody decided that.
unapproved = clean(policy=ToolPolicy())
unapproved_allowed = clean(
    policy=ToolPolicy(),
    checks=GraphChecks(allow_auto={"send_email": "a receipt to the payer only"}),
)
unapproved_tiers = clean(policy=ToolPolicy(tiers={"external": "auto"}))
# An email that retries without an idempotency key can go out twice.
retried = clean(tools={"email_retries": 2, "email_idempotent": False})
# A tool nobody calls.
unused = clean(tools={"extra": True})
unused_listed = clean(tools={"extra": True},
                      checks={"unused_tools": {"drop_table": "called by a maintenance step"}})


def never_expires(**kw):
    g = GraphBuilder("waits", S, tools=registry(), **kw)
    g.approve("ok_wire", action="wire_money", approved="wire_money", rejected=END)
    g.tool("wire_money", args=lambda s: {"n": s.n})
    g.edge(START, "ok_wire").edge("wire_money", END)
    return g


waits = never_expires(checks={"unused_tools": {"read_db": "x", "send_email": "x"}}).build()
waits_on_purpose = never_expires(
    checks={
        "unused_tools": {"read_db": "x", "send_email": "x"},
        "never_expires": {"ok_wire": "wires wait for the treasurer"},
    }
).build()


def looping(**kw):
    tools = ToolRegistry()
    tools.register(lambda a: Out(ok=True), name="read_db", tier="read", input=In, output=Out)
    g = GraphBuilder("loops", S, tools=tools, **kw)
    g.step("think", lambda s: {"n": s.n + 1})
    g.tool("read_db", args=lambda s: {"n": s.n})
    g.route("again", lambda s: "more" if s.n < 3 else "done",
            targets={"more": "think", "done": END})
    g.edge(START, "think").edge("think", "read_db").edge("read_db", "again")
    return g.build()


loops = looping()
loops_declared = looping(checks={"bounded": {"think": "the route stops after three rounds"}})


def budgeted():
    tools = ToolRegistry()
    tools.register(lambda a: Out(ok=True), name="read_db", tier="read", input=In, output=Out)
    g = GraphBuilder("budgeted", S, tools=tools)
    g.step("think", lambda s: {"n": s.n + 1})
    g.tool("read_db", args=lambda s: {"n": s.n})
    g.budget("room", within="again", exceeded=END)
    g.route("again", lambda s: "more" if s.n < 3 else "done",
            targets={"more": "think", "done": END})
    g.edge(START, "think").edge("think", "read_db").edge("read_db", "room")
    return g.build()


loops_budgeted = budgeted()
stale = clean(checks={"bounded": {"nowhere": "x"}, "skip": {"no-such-rule": "x"}})
skipped = clean(policy=ToolPolicy(), checks={"skip": {"approval-before-effect": "a demo"}})
'''


@pytest.fixture(autouse=True)
def graphs_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policy_graphs.py").write_text(textwrap.dedent(GRAPHS))
    monkeypatch.syspath_prepend(str(tmp_path))


def rules(ref: str) -> list[tuple[str, str | None]]:
    return [(v.rule, v.node) for v in check_policies(load_graph(f"policy_graphs:{ref}"))]


def test_a_graph_with_every_decision_made_passes() -> None:
    assert rules("ok") == []
    assert rules("loops_budgeted") == []


def test_an_external_call_on_the_default_tier_policy_needs_a_decision() -> None:
    [violation] = check_policies(load_graph("policy_graphs:unapproved"))

    assert (violation.rule, violation.node) == ("approval-before-effect", "send_email")
    assert violation.message == (
        "node 'send_email' calls external tool 'send_email' without a person's approval on "
        "some path, and only the default policy for the external tier (auto) allows that"
    )
    assert "ToolPolicy(tools={'send_email': 'auto'})" in violation.fix
    assert "checks=GraphChecks(allow_auto={'send_email': 'why'})" in violation.fix
    # Decided in the checks config, or by setting the tier's policy explicitly.
    assert rules("unapproved_allowed") == []
    assert rules("unapproved_tiers") == []
    # The irreversible wire passes: an approve gate's `approved` outcome leads to it.
    assert ("approval-before-effect", "wire_money") not in rules("unapproved")


def test_a_loop_without_a_budget_gate_or_declared_bound_is_flagged() -> None:
    [violation] = check_policies(load_graph("policy_graphs:loops"))

    assert (violation.rule, violation.node) == ("bounded-loops", "think")
    assert violation.message == (
        "the loop through 'think', 'read_db', 'again' passes no budget gate and declares no "
        "bound; only the run's step limit stops it"
    )
    assert "checks=GraphChecks(bounded={'think': 'what bounds it'})" in violation.fix
    assert rules("loops_declared") == []


def test_a_retried_effect_that_is_not_idempotent_is_flagged() -> None:
    assert rules("retried") == [("idempotent-writes", "send_email")]
    [violation] = check_policies(load_graph("policy_graphs:retried"))
    assert "retries=0" in violation.fix and "idempotent=True" in violation.fix


def test_a_declared_tool_no_node_calls_is_flagged() -> None:
    assert rules("unused") == [("reachable-tools", "drop_table")]
    assert rules("unused_listed") == []


def test_an_approve_gate_that_never_expires_must_say_why() -> None:
    assert rules("waits") == [("approval-expiry", "ok_wire")]
    assert rules("waits_on_purpose") == []


def test_the_checks_config_names_only_what_exists_and_can_skip_a_rule() -> None:
    assert rules("stale") == [("checks-config", "nowhere"), ("checks-config", "no-such-rule")]
    assert rules("skipped") == []
    with pytest.raises(DefinitionError, match=r"give a reason for 'x'"):
        GraphChecks.of({"bounded": {"x": " "}})
    with pytest.raises(DefinitionError, match=r"checks= is not a checks config .*its keys are"):
        GraphChecks.of({"bounds": {}})


def test_check_exits_1_with_node_and_fix_and_0_when_clean() -> None:
    failed = CliRunner().invoke(app, ["check", "policy_graphs:unapproved"])
    assert failed.exit_code == 1
    assert failed.stdout.splitlines()[:2] == [
        "graph clean (policy_graphs:unapproved): 1 violation",
        "  approval-before-effect at send_email: node 'send_email' calls external tool "
        "'send_email' without a person's approval on some path, and only the default policy "
        "for the external tier (auto) allows that",
    ]
    assert failed.stdout.splitlines()[2].startswith("    fix: put an approve gate before it")

    passed = CliRunner().invoke(app, ["check", "policy_graphs:ok"])
    assert (passed.exit_code, passed.stdout) == (
        0,
        "graph clean (policy_graphs:ok): 5 rules passed\n",
    )
    skipped = CliRunner().invoke(app, ["check", "policy_graphs:skipped"])
    assert (skipped.exit_code, skipped.stdout) == (
        0,
        "graph clean (policy_graphs:skipped): 4 rules passed, 1 skipped by its checks config\n",
    )
    as_json = CliRunner().invoke(app, ["check", "policy_graphs:retried", "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["rules"] == dict.fromkeys(RULES, True)
    assert [(v["rule"], v["node"]) for v in data["violations"]] == [
        ("idempotent-writes", "send_email")
    ]
    missing = CliRunner().invoke(app, ["check", "policy_graphs:nothing"])
    assert missing.exit_code == 2


@pytest.mark.parametrize(
    "ref", ["railgraph.graphs.refund:graph", "railgraph.graphs.incident:graph"]
)
def test_the_reference_graphs_pass(ref: str) -> None:
    assert check_policies(load_graph(ref)) == []
