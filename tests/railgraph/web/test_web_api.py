"""The HTTP API: bearer tokens, JSON in the CLI's shapes, errors with the fitting status."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from railgraph import Runner
from railgraph._cli_app import pending_json
from railgraph.web import create_app
from railgraph.web._auth import digest, new_secret

from .conftest import World, settings, sign_in


def token_for(world: World, name: str) -> dict[str, str]:
    token = new_secret()

    async def issue() -> None:
        async with Runner.open(world.db, clock=world.clock) as runner:
            await runner.saver.users.add_token(name, digest(token))

    asyncio.run(issue())
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, path: str, who: dict[str, str], body: Any) -> Any:
    return client.post(path, json=body, headers=who)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/pending"),
        ("GET", "/api/runs"),
        ("GET", "/api/runs/x"),
        ("POST", "/api/runs/x/decisions"),
        ("POST", "/api/runs/x/cancel"),
        ("POST", "/api/runs/x/resume"),
    ],
)
def test_every_route_needs_a_valid_token(
    client: TestClient, world: World, method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="railgraph"'
        assert response.json() == {
            "error": "no valid API token; send 'Authorization: Bearer TOKEN' with a token from "
            "`railgraph users token NAME`"
        }


def test_a_session_cookie_does_not_open_the_api(client: TestClient, world: World) -> None:
    sign_in(client, "bob")
    assert client.get("/api/pending").status_code == 401


def test_pending_runs_and_a_run_in_the_clis_shapes(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    bob = token_for(world, "bob")
    pending = client.get("/api/pending", headers=bob).json()
    (approval,) = world.approvals(run_id)
    assert pending == [{**pending_json(approval), "diagram": None}]
    assert pending[0]["action"] == "pay" and pending[0]["risk"] == "write"
    assert client.get("/api/pending?graph=refund", headers=bob).json() == []
    runs = client.get("/api/runs?status=paused", headers=bob).json()
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["status"] == "paused" and runs[0]["started_by"] == "dave"
    trace = client.get(f"/api/runs/{run_id}", headers=bob).json()
    assert trace["run_id"] == run_id and trace["status"] == "paused"
    assert trace["decisions"][0]["status"] == "pending"
    bad = client.get("/api/runs?status=sleeping", headers=bob)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("unknown status 'sleeping'; use one of running, paused")
    assert client.get("/api/runs?limit=many", headers=bob).status_code == 400
    missing = client.get("/api/runs/nope", headers=bob)
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "no run 'nope' in this database; list runs with `railgraph runs`"
    }


def test_an_edit_is_decided_once_under_the_tokens_user(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    request_id = world.approvals(run_id)[0].request_id
    bob = token_for(world, "bob")
    body = {"request_id": request_id, "decision": "edit", "args": {"amount": 5000}}
    invalid = post(client, f"/api/runs/{run_id}/decisions", bob, body)
    assert invalid.status_code == 400
    assert invalid.json()["error"].startswith("the edit does not fit tool 'pay' (amount: ")
    assert world.approvals(run_id)[0].status == "pending"

    body["args"] = {"amount": 100}
    done = post(client, f"/api/runs/{run_id}/decisions", bob, body)
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    assert done.json()["result"]["paid"] == {"reference": "AC-1:100:EUR:False"}
    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decided_by) == ("edited", "bob")

    again = post(
        client,
        f"/api/runs/{run_id}/decisions",
        bob,
        {"request_id": request_id, "decision": "approve"},
    )
    assert again.status_code == 409
    assert again.json()["error"].startswith(f"request {request_id} was already edited by bob")


def test_rules_hold_against_the_tokens_user(client: TestClient, world: World) -> None:
    run_id = world.payout(250, by="bob")
    alice, bob = token_for(world, "alice"), token_for(world, "bob")
    path = f"/api/runs/{run_id}/decisions"
    not_a_reviewer = post(client, path, alice, {"decision": "approve"})
    assert not_a_reviewer.status_code == 403
    assert not_a_reviewer.json()["error"].startswith("alice may not decide request")
    own_run = post(client, path, bob, {"decision": "approve"})
    assert own_run.status_code == 403
    assert own_run.json() == {
        "error": f"bob started run {run_id} and may not approve it; ask another reviewer"
    }
    assert world.approvals(run_id)[0].status == "pending"
    # bob may still reject his own run's request
    rejected = post(client, path, bob, {"decision": "reject", "reason": "typo in the amount"})
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert world.approvals(run_id)[0].decided_by == "bob"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"decision": "maybe"}, 400, "unknown decision 'maybe'; use approve, edit or reject"),
        (
            {"decision": "reject"},
            400,
            "a rejection needs a reason, e.g. --reason 'duplicate request'",
        ),
        ({"decision": "edit"}, 400, "an edit needs the changed arguments"),
        ({"decision": "approve", "args": [1]}, 400, "args must be a JSON object"),
        ({"decision": "approve", "request_id": "nope"}, 404, "has no review request 'nope'"),
        ("[]", 400, "the body must be a JSON object"),
    ],
)
def test_malformed_decisions_are_refused(
    client: TestClient, world: World, body: Any, status: int, error: str
) -> None:
    run_id = world.payout(250)
    bob = token_for(world, "bob")
    path = f"/api/runs/{run_id}/decisions"
    if isinstance(body, str):
        response = client.post(path, content=body, headers=bob)
    else:
        response = post(client, path, bob, body)
    assert response.status_code == status
    assert error in response.json()["error"]
    assert world.approvals(run_id)[0].status == "pending"


def test_not_json_is_refused(client: TestClient, world: World) -> None:
    bob = token_for(world, "bob")
    response = client.post("/api/runs/x/decisions", content=b"{nope", headers=bob)
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON")


def test_deciding_an_unknown_run_or_a_finished_one(client: TestClient, world: World) -> None:
    done = world.start("railgraph.graphs.refund:graph", {"ticket_id": "T-1001"})
    bob = token_for(world, "bob")
    unknown = post(client, "/api/runs/nope/decisions", bob, {"decision": "approve"})
    assert unknown.status_code == 404
    finished = post(client, f"/api/runs/{done}/decisions", bob, {"decision": "approve"})
    assert finished.status_code == 409
    assert finished.json()["error"] == f"run {done} is completed and has no pending request"


def test_cancel_is_for_admins(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    bob, root = token_for(world, "bob"), token_for(world, "root")
    path = f"/api/runs/{run_id}/cancel"
    refused = post(client, path, bob, {"reason": "stop"})
    assert refused.status_code == 403
    assert world.status(run_id) == "paused"
    assert post(client, path, root, {}).status_code == 400
    done = post(client, path, root, {"reason": "duplicate"})
    assert done.status_code == 200
    assert done.json()["status"] == "cancelled"
    assert done.json()["reason"] == "cancelled by root: duplicate"
    assert world.status(run_id) == "cancelled"
    assert post(client, path, root, {"reason": "again"}).status_code == 409
    assert post(client, "/api/runs/nope/cancel", root, {"reason": "x"}).status_code == 404


def test_resume_and_unknown_routes(client: TestClient, world: World) -> None:
    run_id = world.payout(250)
    bob = token_for(world, "bob")
    resumed = post(client, f"/api/runs/{run_id}/resume", bob, {})
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "paused"
    assert post(client, "/api/runs/nope/resume", bob, {}).status_code == 404
    missing = client.get("/api/nothing", headers=bob)
    assert missing.status_code == 404
    assert missing.json() == {"error": "no API route GET /api/nothing; see the README"}


def test_two_servers_deciding_at_once_decide_once(world: World) -> None:
    """Two servers on one database (each with its own runner and lock): of two approvals
    sent at the same moment, one lands and pays once; the other is told it was decided."""
    run_id = world.payout(250)
    request_id = world.approvals(run_id)[0].request_id
    bob, carol_app = token_for(world, "bob"), settings(world)
    world.users(("carol", "reviewer"))
    carol = token_for(world, "carol")
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def approve(client: TestClient, who: str, headers: dict[str, str]) -> None:
        barrier.wait()
        answers[who] = post(
            client,
            f"/api/runs/{run_id}/decisions",
            headers,
            {"request_id": request_id, "decision": "approve"},
        )

    with (
        TestClient(create_app(settings(world))) as one,
        TestClient(create_app(carol_app)) as two,
    ):
        threads = [
            threading.Thread(target=approve, args=(one, "bob", bob)),
            threading.Thread(target=approve, args=(two, "carol", carol)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    codes = sorted(a.status_code for a in answers.values())
    assert codes == [200, 409]
    winner = next(w for w, a in answers.items() if a.status_code == 200)
    loser = next(w for w, a in answers.items() if a.status_code == 409)
    assert f"was already approved by {winner}" in answers[loser].json()["error"]
    (approval,) = world.approvals(run_id)
    assert (approval.status, approval.decided_by) == ("approved", winner)
    assert world.status(run_id) == "completed"
    calls = [e for e in world.events(run_id) if e.kind == "tool_call"]
    assert [(c.data["tool"], c.data["status"]) for c in calls] == [("pay", "ok")]


def test_an_unknown_effect_is_answered_over_the_api(client: TestClient, world: World) -> None:
    request_id = world.unknown_effect()
    bob = token_for(world, "bob")
    path = "/api/runs/run-u/decisions"
    edit = post(client, path, bob, {"decision": "edit", "args": {"amount": 1}})
    assert edit.status_code == 400
    assert "its arguments cannot change" in edit.json()["error"]
    no_result = post(client, path, bob, {"decision": "happened"})
    assert no_result.status_code == 400
    assert "saying an effect happened needs the result observed" in no_result.json()["error"]
    done = post(
        client,
        path,
        bob,
        {"request_id": request_id, "decision": "happened", "result": {"reference": "bank-9"}},
    )
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    assert done.json()["result"]["paid"] == {"reference": "bank-9"}
    approval = next(a for a in world.approvals("run-u") if a.request_id == request_id)
    assert (approval.status, approval.decided_by) == ("happened", "bob")
