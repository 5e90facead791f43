"""The runs list, a run's page, cancel and resume, and the graphs pages."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from railgraph._settings import load_graph

from .conftest import World, sign_in


def run_links(html: str) -> list[str]:
    return re.findall(r'<td><a href="/runs/(\w+)">', html)


def test_runs_are_listed_newest_first_filtered_and_paged(client: TestClient, world: World) -> None:
    done = world.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1001"})
    world.clock.now += 1
    waiting = [world.payout(10), world.payout(20)]
    world.clock.now += 1
    last = world.payout(30)
    sign_in(client, "bob")
    assert run_links(client.get("/runs").text) == [last, waiting[1]]
    assert run_links(client.get("/runs?page=2").text) == [waiting[0], done]
    assert run_links(client.get("/runs?status=completed").text) == [done]
    assert run_links(client.get("/runs?graph=payouts&page=2").text) == [waiting[0]]
    assert run_links(client.get("/runs?graph=railgraph.graphs.refund:graph").text) == [done]
    assert "No runs that match these filters." in client.get("/runs?status=failed").text


def test_a_run_page_shows_diagram_timeline_tool_calls_decisions_and_spend(
    client: TestClient, world: World
) -> None:
    run_id = world.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1002"})
    sign_in(client, "bob")
    page = client.get(f"/runs/{run_id}").text
    assert '<span class="status paused">paused</span>' in page
    assert "approve_refund: refund of $480.00 is over the $100.00 limit" in page
    assert "7 steps, 1 LLM calls, 2 tool calls, 122 tokens, $0.000019" in page
    assert page.count("<svg") == 1 and "rg&#45;stop&#45;paused" in page
    assert "<h2>Waiting for a decision</h2>" in page
    tools = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td>read</td><td>ok</td>", page)
    assert tools == [("load_ticket", "load_ticket"), ("lookup_invoice", "lookup_invoice")]
    assert '<span class="kind verdict">verdict</span>' in page
    assert '<span class="kind approval_requested">approval_requested</span>' in page
    assert '<td>approve_refund</td><td>create_refund</td><td><span class="status pending">' in page


def test_cancel_is_for_admins_and_needs_a_reason(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    csrf = sign_in(client, "bob")
    assert 'action="/runs/' + run_id + '/cancel"' not in client.get(f"/runs/{run_id}").text
    refused = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf, "reason": "stop"})
    assert refused.status_code == 403
    assert "bob is a reviewer; only an admin may cancel runs" in refused.text
    assert world.status(run_id) == "paused"

    client.cookies.clear()
    csrf = sign_in(client, "root")
    forged = client.post(f"/runs/{run_id}/cancel", data={"csrf": "forged", "reason": "stop"})
    assert forged.status_code == 403
    no_reason = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf, "reason": " "})
    assert no_reason.status_code == 400
    assert "a cancellation needs a reason" in no_reason.text
    assert world.status(run_id) == "paused"

    done = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf, "reason": "duplicate"})
    assert done.status_code == 303
    assert world.status(run_id) == "cancelled"
    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decided_by) == ("cancelled", "root")
    again = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf, "reason": "again"})
    assert again.status_code == 409
    assert (
        f"run {run_id} is cancelled (cancelled by root: duplicate); only running or paused "
        "runs can be cancelled"
    ) in again.text
    unknown = client.post("/runs/nope/cancel", data={"csrf": csrf, "reason": "x"})
    assert unknown.status_code == 404


def test_resume_leaves_a_waiting_run_waiting_and_refuses_an_ended_one(
    client: TestClient, world: World
) -> None:
    run_id = world.payout(250)
    ended = world.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1001"})
    csrf = sign_in(client, "bob")
    response = client.post(f"/runs/{run_id}/resume", data={"csrf": csrf})
    assert response.status_code == 303
    assert world.status(run_id) == "paused"
    assert world.approvals(run_id)[0].status == "pending"
    refused = client.post(f"/runs/{ended}/resume", data={"csrf": csrf})
    assert refused.status_code == 409
    assert f"run {ended} is completed; there is nothing to resume" in refused.text
    assert client.post(f"/runs/{run_id}/resume", data={"csrf": "x"}).status_code == 403
    assert client.post("/runs/nope/resume", data={"csrf": csrf}).status_code == 404


def test_graphs_page_lists_graphs_with_runs(client: TestClient, world: World) -> None:
    world.payout(250)
    world.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1001"})
    sign_in(client, "bob")
    page = client.get("/graphs").text
    # In the order of their references.
    assert re.findall(r'<td><a href="/graphs/([^"]+)">(\w+)</a>', page) == [
        ("payouts%3Agraph", "payouts"),
        ("railgraph.graphs.refund%3Agraph", "refund"),
    ]


def test_a_graph_page_draws_design_and_traffic_and_a_diff(client: TestClient, world: World) -> None:
    for amount in (10, 20, 30):
        world.payout(amount)
    csrf = sign_in(client, "bob")
    page = client.get("/graphs/payouts%3Agraph?runs=2").text
    assert "<h2>Traffic over the last 2 runs</h2>" in page
    assert page.count("<svg") == 2
    assert "Legend" in page
    saved = load_graph(
        "railgraph.graphs.refund:graph"
    ).spec.to_json()  # as `railgraph spec` writes it
    diff = client.post(
        "/graphs/payouts%3Agraph",
        data={"csrf": csrf},
        files={"spec": ("refund.json", saved.encode(), "application/json")},
    )
    assert diff.status_code == 200
    changes = re.findall(r"<li>([^<]*)</li>", diff.text)
    assert "node &#39;approve_pay&#39; added (approve)" in changes
    assert "node &#39;load_ticket&#39; removed (tool)" in changes
    assert diff.text.count("<svg") == 3
    itself = load_graph("payouts:graph").spec.to_json()
    same = client.post("/graphs/payouts%3Agraph", data={"csrf": csrf, "spec_text": itself})
    assert "<p>No structural change.</p>" in same.text
    bad = client.post("/graphs/payouts%3Agraph", data={"csrf": csrf, "spec_text": "{}"})
    assert bad.status_code == 400
    assert "pasted spec is not a railgraph spec (4 problems, first: Field required)" in bad.text
    forged = client.post("/graphs/payouts%3Agraph", data={"csrf": "x", "spec_text": saved})
    assert forged.status_code == 403


def test_an_unknown_graph_is_not_found(client: TestClient, world: World) -> None:
    sign_in(client, "bob")
    response = client.get("/graphs/nowhere%3Agraph")
    assert response.status_code == 404
    assert "graph &#39;nowhere:graph&#39; cannot be imported by this server" in response.text
