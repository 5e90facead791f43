"""Decisions that never lie: strict edits, three answers to an unknown effect, identities.

Each test covers a hole found on the approval path: a misspelled edit ran the original
arguments, an infinite amount passed the check and failed the run later, an effect a crash
left unknown could only be sent again or stopped, names were compared as exact strings, a
run started without a name had no starter, and code could approve its own calls.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import pwd
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from railgraph import (
    END,
    START,
    DecisionError,
    DefinitionError,
    GraphBuilder,
    InputError,
    RailGraph,
    Runner,
    RunOutcome,
)
from railgraph import _identity as identity
from railgraph._cli import app
from railgraph._report import trace
from railgraph.checkpointers import EffectRecord
from railgraph.nodes import NodeContext, ToolRegistry
from railgraph.nodes._toolcall import _idempotency_key
from railgraph.nodes._work import approval_hash

# Who really runs these tests, read the way an audit would (not through railgraph).
OS_USER = pwd.getpwuid(os.getuid()).pw_name
HOST = socket.gethostname()


class PayArgs(BaseModel):
    amount: float = Field(gt=0)
    memo: str
    tags: list[str] = Field(default_factory=list)


class Receipt(BaseModel):
    paid: float
    reference: str


class Payout(BaseModel):
    amount: float = 1250.0
    receipt: dict[str, Any] | None = None


def payout(
    paid: list[dict[str, Any]],
    *,
    reviewers: tuple[str, ...] = (),
    allow_self_approval: bool = True,
    idempotent: bool = False,
) -> RailGraph:
    tools = ToolRegistry()

    @tools.tool(tier="irreversible", idempotent=idempotent)
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())
        return Receipt(paid=args.amount, reference=f"P-{len(paid)}")

    g = GraphBuilder("payout", Payout, tools=tools)
    g.approve(
        "review",
        action="pay",
        approved="pay",
        rejected=END,
        reviewers=reviewers,
        allow_self_approval=allow_self_approval,
    )
    g.tool("pay", args=lambda s: {"amount": s.amount, "memo": "refund"}, output="receipt")
    g.edge(START, "review").edge("pay", END)
    return g.build()


async def still_pending(runner: Runner, run_id: str) -> None:
    (approval,) = await runner.store.list_approvals(run_id=run_id, status=None)
    assert (approval.status, approval.decision) == ("pending", None)
    record = await runner.store.get_run(run_id)
    assert record is not None
    assert record.status == "paused"


FIX = (
    "the request is still pending, decide again with arguments that match PayArgs "
    "(amount, memo, tags)"
)


# -- edits ------------------------------------------------------------------------------------


async def test_a_misspelled_field_in_an_edit_is_refused(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    with pytest.raises(DecisionError) as info:
        await runner.approve(paused.run_id, by="ann", edit={"amout": 50})

    assert str(info.value) == f"the edit names fields that tool 'pay' does not have: 'amout'; {FIX}"
    await still_pending(runner, paused.run_id)
    assert paid == []

    done = await runner.approve(paused.run_id, by="ann", edit={"amount": 50})
    assert (done.status, [p["amount"] for p in paid]) == ("completed", [50.0])


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
async def test_a_number_that_is_not_finite_is_refused(runner: Runner, number: float) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    with pytest.raises(DecisionError) as info:
        await runner.approve(paused.run_id, by="ann", edit={"amount": number})

    assert str(info.value) == (
        f"the edit holds a number that is not finite (Infinity or NaN); {FIX}"
    )
    await still_pending(runner, paused.run_id)
    done = await runner.approve(paused.run_id, by="ann")
    assert (done.status, [p["amount"] for p in paid]) == ("completed", [1250.0])


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"amount": "50"}, "amount: Input should be a valid number"),
        ({"memo": 7}, "memo: Input should be a valid string"),
        ({"tags": "vip"}, "tags: Input should be a valid array"),
        ({"amount": True}, "amount: Input should be a valid number"),
    ],
)
async def test_a_value_of_the_wrong_type_is_refused(
    runner: Runner, edit: dict[str, Any], problem: str
) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    with pytest.raises(DecisionError) as info:
        await runner.approve(paused.run_id, by="ann", edit=edit)

    assert str(info.value) == f"the edit does not fit tool 'pay' ({problem}); {FIX}"
    await still_pending(runner, paused.run_id)
    assert paid == []


class Address(BaseModel):
    street: str
    city: str


class ShipArgs(BaseModel):
    to: Address


class Shipped(BaseModel):
    ok: bool


class Parcel(BaseModel):
    shipped: dict[str, Any] | None = None


async def test_a_misspelled_field_inside_a_nested_value_is_refused(runner: Runner) -> None:
    tools = ToolRegistry()

    @tools.tool(tier="external")
    def ship(args: ShipArgs) -> Shipped:
        return Shipped(ok=True)

    g = GraphBuilder("ship", Parcel, tools=tools)
    g.approve("review", action="ship", approved="ship", rejected=END)
    g.tool("ship", args=lambda s: {"to": {"street": "1 Main", "city": "Oslo"}}, output="shipped")
    g.edge(START, "review").edge("ship", END)
    paused = await runner.start(g.build(), {})

    with pytest.raises(DecisionError, match=r"does not have: 'to\.cty'; the request is still"):
        await runner.approve(
            paused.run_id, by="ann", edit={"to": {"street": "2 Main", "city": "Oslo", "cty": "X"}}
        )

    await still_pending(runner, paused.run_id)


async def test_an_edit_is_stored_and_run_as_checked(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})

    done = await runner.approve(paused.run_id, by="ann", edit={"amount": 50, "tags": ["vip"]})

    assert done.status == "completed"
    assert paid == [{"amount": 50.0, "memo": "refund", "tags": ["vip"]}]
    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert approval.status == "edited"
    assert approval.decision is not None
    assert approval.decision["args"] == {"amount": 50, "tags": ["vip"]}


# -- unknown effects: send again, it happened, or stop ----------------------------------------


async def leave_unknown(runner: Runner, run_id: str, args: dict[str, Any]) -> str:
    """What a crash between the effect and its record leaves in the ledger."""
    key = _idempotency_key(run_id, "pay", "pay", args)
    await runner.store.begin_effect(key, run_id=run_id, node="pay", tool="pay", args=args)
    return key


ARGS = {"amount": 1250.0, "memo": "refund", "tags": []}


async def unknown_effect_run(runner: Runner, paid: list[dict[str, Any]]) -> str:
    """A run whose approved payment a crash left unknown, now asking what happened."""
    await leave_unknown(runner, "run-u", ARGS)
    paused = await runner.start(payout(paid), {}, run_id="run-u")
    asked = await runner.approve("run-u", by="ann", request_id=paused.pending[0].request_id)
    assert asked.status == "paused"
    [request] = asked.pending
    assert request.request["kind"] == "unknown_effect"
    return request.request_id


async def test_it_happened_completes_the_ledger_and_the_run_goes_on(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    request_id = await unknown_effect_run(runner, paid)

    done = await runner.happened(
        "run-u",
        by="ops",
        result={"paid": 1250, "reference": "P-77"},
        reason="the bank shows it",
        request_id=request_id,
    )

    assert done.status == "completed"
    assert done.result["receipt"] == {"paid": 1250.0, "reference": "P-77"}
    assert paid == []  # not sent again
    [effect] = await runner.store.list_effects("run-u")
    assert (effect.status, effect.result) == ("completed", {"paid": 1250.0, "reference": "P-77"})
    approval = await runner.store.get_approval(request_id)
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("happened", "ops")
    assert approval.decision is not None
    assert approval.decision["result"] == {"paid": 1250.0, "reference": "P-77"}
    events = await runner.store.list_events("run-u")
    [reviewed] = [e for e in events if e.kind == "effect_reviewed"]
    assert reviewed.node == "pay"
    assert reviewed.data == {
        "tool": "pay",
        "idempotency_key": effect.idempotency_key,
        "decision": "happened",
        "by": "ops",
        "os_user": OS_USER,
        "host": HOST,
        "reason": "the bank shows it",
        "result": {"paid": 1250.0, "reference": "P-77"},
    }
    calls = [(e.data["status"], e.data["result"]) for e in events if e.kind == "tool_call"]
    assert calls == [("reported", {"paid": 1250.0, "reference": "P-77"})]
    assert [e.node for e in events if e.kind == "node_finished"] == ["review", "pay"]


async def test_send_again_and_stop_still_work(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    await unknown_effect_run(runner, paid)

    done = await runner.approve("run-u", by="ops")

    assert (done.status, len(paid)) == ("completed", 1)
    [effect] = await runner.store.list_effects("run-u")
    assert effect.status == "completed"


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"paid": "1250", "reference": "P-1"}, "does not fit the output of tool 'pay' (paid: "),
        ({"paid": 1250.0}, "does not fit the output of tool 'pay' (reference: Field required)"),
        (
            {"paid": 1250.0, "reference": "P-1", "refrence": "x"},
            "names fields that the output of tool 'pay' does not have: 'refrence'",
        ),
        ({"paid": float("nan"), "reference": "P-1"}, "holds a number that is not finite"),
    ],
)
async def test_an_observed_result_that_does_not_fit_is_refused(
    runner: Runner, result: dict[str, Any], problem: str
) -> None:
    paid: list[dict[str, Any]] = []
    request_id = await unknown_effect_run(runner, paid)

    with pytest.raises(DecisionError) as info:
        await runner.happened("run-u", by="ops", result=result)

    assert str(info.value).startswith(f"the result given {problem}")
    assert str(info.value).endswith(
        "the request is still pending, give the result as the tool returns it: "
        "Receipt (paid, reference)"
    )
    approval = await runner.store.get_approval(request_id)
    assert approval is not None
    assert approval.status == "pending"
    [effect] = await runner.store.list_effects("run-u")
    assert effect.status == "started"
    assert paid == []


async def test_it_happened_answers_only_an_unknown_effect(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid), {})
    request_id = paused.pending[0].request_id

    with pytest.raises(DecisionError) as info:
        await runner.happened(paused.run_id, by="ann", result={"paid": 1, "reference": "x"})

    assert str(info.value) == (
        f"request {request_id} asks for an approval, not about an effect a crash left "
        "unknown; approve, edit or reject it"
    )
    await still_pending(runner, paused.run_id)


async def test_it_happened_needs_a_result() -> None:
    from railgraph.nodes import Decision

    with pytest.raises(ValueError, match="saying an effect happened needs the result observed"):
        Decision(decision="happened", by="ops")
    with pytest.raises(ValueError, match="a result can only be given when saying an effect"):
        Decision(decision="approve", by="ops", result={"paid": 1})


def write_graph_module(folder: Path) -> None:
    """A graph the CLI can import by reference, whose effect leaves a file behind."""
    (folder / "fx_transfer.py").write_text(
        "from pathlib import Path\n"
        "from typing import Any\n"
        "from pydantic import BaseModel\n"
        "from railgraph.nodes import ToolRegistry\n"
        "from railgraph import END, START, GraphBuilder\n\n"
        "class Amount(BaseModel):\n    amount: float\n\n"
        "class Sent(BaseModel):\n    ok: bool\n    ref: str\n\n"
        "class Transfer(BaseModel):\n    receipt: dict[str, Any] | None = None\n\n"
        "tools = ToolRegistry()\n\n"
        "@tools.tool(tier='write')\n"
        "def transfer(args: Amount) -> Sent:\n"
        "    with Path('sent.txt').open('a') as f:\n"
        "        f.write(f'{args.amount}\\n')\n"
        "    return Sent(ok=True, ref='T-1')\n\n"
        "g = GraphBuilder('fx', Transfer, tools=tools)\n"
        "g.tool('transfer', args=lambda s: {'amount': 5.0}, output='receipt')\n"
        "g.edge(START, 'transfer').edge('transfer', END)\n"
        "graph = g.build()\n"
    )


async def crashed_transfer(db: Path) -> RunOutcome:
    async with Runner.open(db) as runner:
        key = _idempotency_key("run-c", "transfer", "transfer", {"amount": 5.0})
        await runner.store.begin_effect(
            key, run_id="run-c", node="transfer", tool="transfer", args={"amount": 5.0}
        )
        return await runner.start("fx_transfer:graph", {}, run_id="run-c")


async def effects_of(db: Path, run_id: str) -> list[EffectRecord]:
    async with Runner.open(db) as runner:
        return await runner.store.list_effects(run_id)


def test_it_happened_from_the_command_line(isolated: Path) -> None:
    write_graph_module(isolated)
    db = isolated / "rg.db"
    paused = asyncio.run(crashed_transfer(db))
    assert paused.status == "paused"

    listed = CliRunner().invoke(app, ["pending", "--db", str(db)])
    assert listed.exit_code == 0, listed.stderr
    assert (
        "decide:    railgraph approve run-c --by NAME  |  railgraph approve run-c --by NAME "
        "--happened RESULT  |  railgraph reject run-c --by NAME --reason TEXT"
    ) in listed.stdout

    bad = CliRunner().invoke(
        app, ["approve", "run-c", "--by", "ops", "--happened", '{"ok": "yes"}', "--db", str(db)]
    )
    assert bad.exit_code == 2
    assert "the result given does not fit the output of tool 'transfer'" in bad.stderr

    both = CliRunner().invoke(
        app,
        ["approve", "run-c", "--by", "ops", "--edit", "{}", "--happened", "{}", "--db", str(db)],
    )
    assert both.exit_code == 2
    assert "--happened and --edit cannot be given together" in both.stderr

    done = CliRunner().invoke(
        app,
        [
            "approve",
            "run-c",
            "--by",
            "ops",
            "--happened",
            '{"ok": true, "ref": "T-9"}',
            "--db",
            str(db),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["status"], outcome["result"]) == (
        "completed",
        {"receipt": {"ok": True, "ref": "T-9"}},
    )
    assert not (isolated / "sent.txt").exists()
    [effect] = asyncio.run(effects_of(db, "run-c"))
    assert (effect.status, effect.result) == ("completed", {"ok": True, "ref": "T-9"})


# -- who decides -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
async def test_an_empty_name_is_refused(runner: Runner, name: str) -> None:
    paused = await runner.start(payout([]), {})

    with pytest.raises(DecisionError, match="a reviewer's name must not be empty"):
        await runner.approve(paused.run_id, by=name)
    with pytest.raises(DecisionError, match="a reviewer's name must not be empty"):
        await runner.reject(paused.run_id, by=name, reason="no")

    await still_pending(runner, paused.run_id)


async def test_names_are_trimmed_and_recorded_with_the_os_user_and_host(runner: Runner) -> None:
    paused = await runner.start(payout([]), {})

    await runner.approve(paused.run_id, by="  Ann  ")

    (approval,) = await runner.store.list_approvals(run_id=paused.run_id, status=None)
    assert approval.decided_by == "Ann"
    assert approval.decision is not None
    assert (approval.decision["by"], approval.decision["os_user"], approval.decision["host"]) == (
        "Ann",
        OS_USER,
        HOST,
    )
    events = await runner.store.list_events(paused.run_id)
    [decided] = [e for e in events if e.kind == "approval_decided"]
    assert (decided.data["by"], decided.data["os_user"], decided.data["host"]) == (
        "Ann",
        OS_USER,
        HOST,
    )
    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    shown = trace(record, events, [approval])  # what `railgraph show --json` prints
    assert [(d["by"], d["os_user"], d["host"]) for d in shown["decisions"]] == [
        ("Ann", OS_USER, HOST)
    ]


async def test_reviewer_lists_compare_names_case_insensitively(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid, reviewers=("Ops-Lead",)), {})

    with pytest.raises(DecisionError, match="bob may not decide"):
        await runner.approve(paused.run_id, by="bob")
    done = await runner.approve(paused.run_id, by=" ops-lead ")

    assert (done.status, len(paid)) == ("completed", 1)


@pytest.mark.parametrize("reviewer", ["ops-lead", "OPS-LEAD", " Ops-Lead "])
async def test_self_approval_compares_names_case_insensitively(
    runner: Runner, reviewer: str
) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid, allow_self_approval=False), {}, started_by="Ops-Lead")

    with pytest.raises(DecisionError, match="may not approve it; ask another reviewer"):
        await runner.approve(paused.run_id, by=reviewer)

    await still_pending(runner, paused.run_id)
    assert paid == []


async def test_a_run_started_without_a_name_is_started_by_the_os_user(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    paused = await runner.start(payout(paid, allow_self_approval=False), {})

    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    assert record.started_by == OS_USER
    with pytest.raises(DecisionError, match="may not approve it"):
        await runner.approve(paused.run_id, by=OS_USER.upper())


@pytest.mark.parametrize("name", ["", "  "])
async def test_a_run_cannot_be_started_by_an_empty_name(runner: Runner, name: str) -> None:
    with pytest.raises(InputError, match="the name of who starts the run must not be empty"):
        await runner.start(payout([]), {}, started_by=name)

    assert await runner.store.list_runs() == []


async def test_a_started_by_name_is_trimmed(runner: Runner) -> None:
    paused = await runner.start(payout([]), {}, started_by="  sam ")

    record = await runner.store.get_run(paused.run_id)
    assert record is not None
    assert record.started_by == "sam"


# -- only a recorded decision approves a call --------------------------------------------------


async def test_a_step_cannot_approve_its_own_tool_call(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())
        return Receipt(paid=args.amount, reference="P-1")

    async def sneaky(state: Payout, ctx: NodeContext) -> dict[str, Any]:
        receipt = await ctx.call_tool(
            "pay",
            {"amount": 9999, "memo": "mine"},
            approved=True,  # type: ignore[call-arg]  # the flag that let code approve itself
        )
        return {"receipt": receipt}

    g = GraphBuilder("sneaky", Payout, tools=tools)
    g.step("sneaky", sneaky).edge(START, "sneaky").edge("sneaky", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert paid == []
    assert await runner.store.list_effects(outcome.run_id) == []


async def test_a_step_without_the_flag_is_refused_by_the_policy(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())
        return Receipt(paid=args.amount, reference="P-1")

    async def sneaky(state: Payout, ctx: NodeContext) -> dict[str, Any]:
        return {"receipt": await ctx.call_tool("pay", {"amount": 9999, "memo": "mine"})}

    g = GraphBuilder("sneaky", Payout, tools=tools)
    g.step("sneaky", sneaky).edge(START, "sneaky").edge("sneaky", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert outcome.reason.startswith(
        "PolicyError: tool 'pay' needs a person's approval under the graph's policy, but node "
        "'sneaky' has none for these arguments"
    )
    assert paid == []


async def test_a_step_cannot_forge_an_approval_in_the_state(runner: Runner) -> None:
    """A route around the gate plus a forged approval used to pay without any decision."""
    paid: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())
        return Receipt(paid=args.amount, reference="P-1")

    args = {"amount": 1250.0, "memo": "refund"}

    def forge(state: Payout) -> dict[str, Any]:
        return {"rg_approvals": {"pay": {"proposed": approval_hash(args), "args": args}}}

    g = GraphBuilder("forged", Payout, tools=tools)
    g.step("forge", forge)
    g.route("skip", lambda s: "pay", targets=["review", "pay"])
    g.approve("review", action="pay", approved="pay", rejected=END)
    g.tool("pay", args=lambda s: args, output="receipt")
    g.edge(START, "forge").edge("forge", "skip").edge("pay", END)

    outcome = await runner.start(g.build(), {})

    assert outcome.status == "failed"
    assert outcome.reason == (
        "RunError: step 'forge' returned 'rg_approvals', which railgraph keeps itself; a step "
        "returns only fields of the state"
    )
    assert paid == []


async def test_run_input_cannot_forge_an_approval_either(runner: Runner) -> None:
    paid: list[dict[str, Any]] = []
    tools = ToolRegistry()

    @tools.tool(tier="irreversible")
    def pay(args: PayArgs) -> Receipt:
        paid.append(args.model_dump())
        return Receipt(paid=args.amount, reference="P-1")

    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        receipt: dict[str, Any] | None = None

    args = {"amount": 1250.0, "memo": "refund"}
    g = GraphBuilder("open", Open, tools=tools)
    g.route("skip", lambda s: "pay", targets=["review", "pay"])
    g.approve("review", action="pay", approved="pay", rejected=END)
    g.tool("pay", args=lambda s: args, output="receipt")
    g.edge(START, "skip").edge("pay", END)
    forged = {"rg_approvals": {"pay": {"proposed": approval_hash(args), "args": args}}}

    with pytest.raises(InputError) as info:
        await runner.start(g.build(), forged)

    assert str(info.value) == (
        "input has fields Open does not declare: 'rg_approvals'; its fields are receipt"
    )
    assert paid == []
    assert await runner.store.list_runs() == []


@pytest.mark.parametrize("reviewers", [["alice", "  "], "alice", [""]])
def test_a_gate_refuses_empty_or_malformed_reviewer_names(reviewers: Any) -> None:
    g = GraphBuilder("names", Payout)

    with pytest.raises(DefinitionError) as info:
        g.approve("ask", approved=END, rejected=END, reviewers=reviewers)

    assert str(info.value) == (
        f"approve gate 'ask': reviewers={reviewers!r} must be a list of non-empty names, "
        "e.g. reviewers=['alice', 'bob']"
    )


async def test_a_gate_keeps_its_reviewer_names_trimmed(runner: Runner) -> None:
    paused = await runner.start(payout([], reviewers=(" Ann ",)), {})

    assert paused.pending[0].request["reviewers"] == ["Ann"]
    done = await runner.approve(paused.run_id, by="ann")
    assert done.status == "completed"


def test_the_os_user_falls_back_to_the_login_name_without_user_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Windows has no os.getuid and no pwd: the login name answers, once per user.
    monkeypatch.delattr(os, "getuid")
    monkeypatch.setattr(getpass, "getuser", lambda: "winuser")
    identity._user_of.cache_clear()
    try:
        assert identity.os_user() == "winuser"
    finally:
        identity._user_of.cache_clear()
    monkeypatch.undo()
    assert identity.os_user() == OS_USER


def test_the_os_user_is_unknown_when_nothing_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A container run under a user id without a password entry and no LOGNAME or USER.
    def nobody(uid: int) -> Any:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", nobody)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    identity._user_of.cache_clear()
    try:
        assert identity.os_user() == "unknown"
    finally:
        identity._user_of.cache_clear()
