"""The queue page and the decisions taken on it: recorded under the signed-in user, exactly once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from railgraph import Runner
from railgraph.checkpointers import ApprovalRecord

from .conftest import World, sign_in


def decide(client: TestClient, csrf: str, run_id: str, request_id: str, **form: str) -> Any:
    return client.post(
        f"/runs/{run_id}/requests/{request_id}", data={"csrf": csrf, "next": "/queue", **form}
    )


def only_request(world: World, run_id: str) -> str:
    (approval,) = world.approvals(run_id)
    return approval.request_id


def test_the_queue_shows_what_a_reviewer_needs(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    sign_in(client, "bob")
    page = client.get("/queue").text
    card = page[page.index(f'id="request-{request_id}"') :]
    assert "<h2>pay" in card and 'class="tier tier-write">write</span>' in card
    assert "<dd>approve</dd>" in card  # the policy
    assert '<dd class="reason">pay 250 to AC-1</dd>' in card
    assert "<th>account</th><td><code>&#34;AC-1&#34;</code></td>" in card
    assert "<th>amount</th><td><code>250.0</code></td>" in card
    assert "0 steps, 0 LLM calls, 0 tool calls, 0 tokens, $0.000000" in card
    assert "no expiry" in card
    # the run's diagram, inline, with the gate it waits at marked as paused
    svg = card[card.index("<svg") : card.index("</svg>")]
    assert re.search(
        r'<g id="node&#45;approve_pay" class="node [^"]*rg&#45;stop&#45;paused">\s*'
        r"<title>approve_pay</title>",
        svg,
    )
    assert svg.count("rg&#45;stop&#45;paused") == 1
    # the edit form comes from the tool's input schema
    assert '<input id="' + request_id + '-account" name="arg.account" value="AC-1"' in card
    assert 'name="arg.amount" value="250.0" inputmode="decimal"' in card
    assert "<option selected>EUR</option><option>USD</option>" in card
    assert 'type="checkbox" id="' + request_id + '-urgent" name="arg.urgent">' in card
    assert "The account paid; matches ^AC-\\d+$" in card
    assert "&gt; 0; ≤ 1000" in card


def test_user_text_is_escaped(client: TestClient, world: World) -> None:
    world.start("payouts:graph", {"account": "<script>x</script>", "amount": 5}, by="dave")
    sign_in(client, "bob")
    page = client.get("/queue").text
    assert "<script>x</script>" not in page
    assert "pay 5 to &lt;script&gt;x&lt;/script&gt;" in page


def test_approve_is_recorded_under_the_signed_in_reviewer(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    response = decide(client, csrf, run_id, request_id, decision="approve")
    assert response.status_code == 303
    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decided_by) == ("approved", "bob")
    assert approval.decision is not None and approval.decision["by"] == "bob"
    assert world.status(run_id) == "completed"
    page = client.get("/queue").text
    assert f"request {request_id} approved; run {run_id} is now completed" in page


def test_a_decided_request_cannot_be_decided_again(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    assert decide(client, csrf, run_id, request_id, decision="approve").status_code == 303
    again = decide(client, csrf, run_id, request_id, decision="reject", reason="oops")
    assert again.status_code == 409
    assert f"request {request_id} was already approved by bob" in again.text
    edit = decide(client, csrf, run_id, request_id, decision="edit", **{"arg.amount": "9"})
    assert edit.status_code == 409
    assert f"request {request_id} was already approved by bob" in edit.text
    (approval,) = world.approvals(run_id)
    assert approval.status == "approved"


def test_an_invalid_edit_is_refused_next_to_its_field(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    form = {"decision": "edit", "arg.account": "AC-1", "arg.currency": "EUR"}
    response = decide(client, csrf, run_id, request_id, **form, **{"arg.amount": "5000"})
    assert response.status_code == 400
    assert re.findall(r'class="field-error" role="alert">([^<]*)<', response.text) == [
        "Input should be less than or equal to 1000"
    ]
    assert 'name="arg.amount" value="5000"' in response.text  # what was typed stays
    assert '<details class="edit" open>' in response.text
    # the refused form's page keeps sending its forms back to the queue, not to itself
    assert set(re.findall(r'name="next" value="([^"]*)"', response.text)) == {"/queue"}
    not_a_number = decide(client, csrf, run_id, request_id, **form, **{"arg.amount": "lots"})
    assert not_a_number.status_code == 400
    assert '<span class="field-error" role="alert">enter a number</span>' in not_a_number.text
    (approval,) = world.approvals(run_id)
    assert approval.status == "pending"
    assert world.status(run_id) == "paused"


def test_a_valid_edit_is_recorded_with_the_changed_arguments(
    client: TestClient, world: World
) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    form = {
        "decision": "edit",
        "arg.account": "AC-1",
        "arg.amount": "200",
        "arg.currency": "USD",
        "arg.urgent": "on",
    }
    assert decide(client, csrf, run_id, request_id, **form).status_code == 303
    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decided_by) == ("edited", "bob")
    assert approval.decision is not None
    assert approval.decision["args"] == {"amount": 200.0, "currency": "USD", "urgent": True}
    assert world.status(run_id) == "completed"


def test_an_edit_that_changes_nothing_is_refused(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    form = {"decision": "edit", "arg.account": "AC-1", "arg.amount": "250", "arg.currency": "EUR"}
    response = decide(client, csrf, run_id, request_id, **form)
    assert response.status_code == 400
    assert "nothing was changed; approve as proposed, or change a field" in response.text
    assert world.approvals(run_id)[0].status == "pending"


def test_a_rejection_needs_a_reason(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    refused = decide(client, csrf, run_id, request_id, decision="reject", reason="  ")
    assert refused.status_code == 400
    assert "a rejection needs a reason" in refused.text
    assert world.approvals(run_id)[0].status == "pending"
    done = decide(client, csrf, run_id, request_id, decision="reject", reason="wrong account")
    assert done.status_code == 303
    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decided_by) == ("rejected", "bob")
    assert approval.decision is not None and approval.decision["reason"] == "wrong account"
    assert world.status(run_id) == "rejected"


def test_only_the_gates_reviewers_may_decide(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "alice")
    response = decide(client, csrf, run_id, request_id, decision="approve")
    assert response.status_code == 403
    assert "alice may not decide request" in response.text
    assert world.approvals(run_id)[0].status == "pending"


def test_the_starter_may_not_approve_their_own_run(client: TestClient, world: World) -> None:
    run_id = world.payout(250, by="bob")
    request_id = only_request(world, run_id)
    csrf = sign_in(client, "bob")
    response = decide(client, csrf, run_id, request_id, decision="approve")
    assert response.status_code == 403
    assert f"bob started run {run_id} and may not approve it" in response.text
    assert world.approvals(run_id)[0].status == "pending"


def test_a_forged_form_decides_nothing(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = only_request(world, run_id)
    sign_in(client, "bob")
    response = decide(client, "forged", run_id, request_id, decision="approve")
    assert response.status_code == 403
    assert "CSRF token is missing or does not match" in response.text
    missing = client.post(f"/runs/{run_id}/requests/{request_id}", data={"decision": "approve"})
    assert missing.status_code == 403
    assert world.approvals(run_id)[0].status == "pending"


def test_unknown_runs_and_requests_are_not_found(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    csrf = sign_in(client, "bob")
    unknown = decide(client, csrf, run_id, "no-such-request", decision="approve")
    assert unknown.status_code == 404
    assert f"run {run_id} has no review request &#39;no-such-request&#39;" in unknown.text
    no_run = decide(client, csrf, "no-such-run", "x", decision="approve")
    assert no_run.status_code == 404
    assert client.get("/runs/no-such-run").status_code == 404


def test_filters_and_pages(client: TestClient, world: World) -> None:
    small = [world.payout(10 + i) for i in range(3)]
    world.clock.now += 3600
    refund = world.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1002"})
    sign_in(client, "bob")

    def shown(query: str) -> list[str]:
        return re.findall(
            r'data-request="[^"]+">.*?run <a href="/runs/(\w+)"',
            client.get("/queue" + query).text,
            re.S,
        )

    assert shown("") == small[:2]  # oldest first, two to a page
    assert shown("?page=2") == [small[2], refund]
    assert shown("?graph=refund") == [refund]
    assert shown("?gate=approve_pay&page=2") == [small[2]]
    assert shown("?risk=irreversible") == [refund]
    assert shown("?age=1h") == small[:2]
    assert shown("?age=1h&page=2") == [small[2]]
    assert shown("?graph=nothing") == []
    assert 'href="/queue?gate=approve_pay&amp;page=2"' in client.get("/queue?gate=approve_pay").text


def test_live_fingerprint_changes_when_a_request_arrives(client: TestClient, world: World) -> None:
    sign_in(client, "bob")
    before = client.get("/live").json()["version"]
    assert client.get("/live").json()["version"] == before
    world.payout(250)
    after = client.get("/live").json()["version"]
    assert after != before
    assert f'data-version="{after}"' in client.get("/queue").text


def test_an_unknown_effect_offers_its_three_answers_and_no_edit(
    client: TestClient, world: World
) -> None:
    request_id = world.unknown_effect()
    sign_in(client, "bob")
    page = client.get("/queue").text
    card = page[page.index(f'id="request-{request_id}"') :]
    assert '<span class="tier tier-irreversible">outcome unknown</span>' in card
    again = "Send it again (it did not happen)"
    assert f'<button type="submit" class="approve">{again}</button>' in card
    assert '<button type="submit">It happened: go on with this result</button>' in card
    assert "(JSON with reference)" in card
    assert '<button type="submit" class="reject">Stop the run</button>' in card
    assert "Edit the arguments" not in card


def test_it_happened_records_the_observed_result_once(client: TestClient, world: World) -> None:
    request_id = world.unknown_effect()
    csrf = sign_in(client, "bob")
    not_json = decide(client, csrf, "run-u", request_id, decision="happened", result="{ref")
    assert not_json.status_code == 400
    assert "the result observed is not JSON" in not_json.text
    wrong = decide(client, csrf, "run-u", request_id, decision="happened", result='{"ref": 1}')
    assert wrong.status_code == 400
    assert world.approvals("run-u")[-1].status == "pending"
    done = decide(
        client, csrf, "run-u", request_id, decision="happened", result='{"reference": "bank-9"}'
    )
    assert done.status_code == 303
    approval = next(a for a in world.approvals("run-u") if a.request_id == request_id)
    assert (approval.status, approval.decided_by) == ("happened", "bob")
    assert world.status("run-u") == "completed"
    calls = [e.data["status"] for e in world.events("run-u") if e.kind == "tool_call"]
    assert "ok" not in calls  # the payment was not sent again


def test_a_conversation_in_a_request_is_shown_escaped(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    action = {
        "node": "pay",
        "tool": "pay",
        "args": {"account": "AC-1", "amount": 250.0},
        "tier": "write",
        "policy": "approve",
    }
    request = {
        "gate": "loop",
        "action": action,
        "reason": "the model wants to pay",
        "spend": {},
        "graph": "payouts",
        "conversation": [{"role": "user", "content": "pay <b>AC-1</b>"}],
    }

    async def file(runner: Runner) -> None:
        await runner.store.add_approval(
            ApprovalRecord(
                request_id="agent-1",
                run_id=run_id,
                graph="payouts:graph",
                node="loop",
                status="pending",
                request=request,
                # a clock a little ahead (another machine's) still shows in the queue
                created_at=world.clock.now + 1,
            )
        )

    world._run(file)
    sign_in(client, "bob")
    page = client.get("/queue").text
    card = page[page.index('id="request-agent-1"') :]
    assert "<li><b>user</b> pay &lt;b&gt;AC-1&lt;/b&gt;</li>" in card


def test_parallel_requests_of_one_run_are_decided_one_by_one(
    client: TestClient, world: World
) -> None:
    run_id = world.start("railgraph.graphs.incident:graph", {"service": "checkout"}, by="carol")
    requests = {a.node: a.request_id for a in world.approvals(run_id)}
    assert sorted(requests) == ["approve_rollback", "approve_status_page"]
    csrf = sign_in(client, "bob")
    page = client.get(f"/runs/{run_id}").text
    assert page.count('<article class="card') == 2
    notice = decide(
        client,
        csrf,
        run_id,
        requests["approve_status_page"],
        decision="reject",
        reason="internal only for now",
        next=f"/runs/{run_id}",
    )
    assert notice.status_code == 303 and notice.headers["location"] == f"/runs/{run_id}"
    assert world.status(run_id) == "paused"
    still = {a.node: (a.status, a.decided_by) for a in world.approvals(run_id)}
    assert still == {
        "approve_rollback": ("pending", None),
        "approve_status_page": ("rejected", "bob"),
    }
    rollback = decide(client, csrf, run_id, requests["approve_rollback"], decision="approve")
    assert rollback.status_code == 303
    assert world.status(run_id) == "completed"
    done = {a.node: (a.status, a.decided_by) for a in world.approvals(run_id)}
    assert done == {
        "approve_rollback": ("approved", "bob"),
        "approve_status_page": ("rejected", "bob"),
    }


AGENT_DESK = '''
"""The support agent on a helpdesk of its own beside the test's database."""
from pathlib import Path

from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.support_agent import make_graph

graph = make_graph(helpdesk=Helpdesk(Path(__file__).parent / "helpdesk.db"))
'''


def test_an_agent_call_under_review_shows_its_arguments_and_recent_conversation(
    client: TestClient, world: World, isolated: Path
) -> None:
    (isolated / "agentdesk.py").write_text(AGENT_DESK)
    run_id = world.start("agentdesk:graph", {"ticket_id": "T-1002"}, by="dave")
    request_id = only_request(world, run_id)
    sign_in(client, "bob")
    page = client.get("/queue").text
    card = page[page.index(f'id="request-{request_id}"') :]
    card = card[: card.index("</article>")]
    # the model's own call: the tool, its exact arguments, the rule that fired
    assert "<h2>create_refund" in card and 'class="tier tier-irreversible">' in card
    assert "<th>amount</th><td><code>480.0</code></td>" in card
    assert "<th>invoice_id</th><td><code>&#34;INV-5002&#34;</code></td>" in card
    assert "create_refund: amount &gt; 100 (holds) → approve" in card
    # the turns that led to it, each with its role and its text
    conversation = card[card.index('<ol class="conversation">') : card.index("</ol>")]
    turns = re.findall(r"<li><b>([^<]*)</b> ([^<]*)</li>", conversation)
    assert [role for role, _ in turns] == ["ai", "tool", "ai", "tool", "tool", "ai"]
    assert turns[-1][1].startswith("calls create_refund(")
    assert "&#34;amount&#34;:480.0" in turns[-1][1]
    assert all(text.strip() for _, text in turns)
