"""Signing in: nothing works without it, sessions expire, forms carry CSRF tokens, roles hold."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from railgraph.errors import InputError
from railgraph.web import check_host, create_app

from .conftest import PASSWORD, World, csrf_of, settings, sign_in

PAGES = ["/", "/queue", "/runs", "/runs/nope", "/graphs", "/graphs/payouts:graph", "/users"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    if path != "/":
        assert response.headers["location"].startswith("/signin?next=")


@pytest.mark.parametrize(
    "path", ["/runs/r/requests/q", "/runs/r/cancel", "/runs/r/resume", "/signout"]
)
def test_every_form_refuses_a_stranger(client: TestClient, world: World, path: str) -> None:
    response = client.post(path, data={"csrf": "x", "decision": "approve"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_live_needs_a_session(client: TestClient) -> None:
    response = client.get("/live")
    assert response.status_code == 401
    assert response.json() == {"error": "sign in first"}


def test_a_wrong_password_opens_no_session(client: TestClient, world: World) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin", data={"csrf": csrf_of(page.text), "name": "alice", "password": "nope-nope"}
    )
    assert response.status_code == 401
    assert "wrong name or password" in response.text
    assert world.sessions() == 0
    assert client.get("/queue").status_code == 303


def test_an_unknown_name_is_refused_the_same_way(client: TestClient, world: World) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin", data={"csrf": csrf_of(page.text), "name": "mallory", "password": PASSWORD}
    )
    assert response.status_code == 401
    assert "wrong name or password" in response.text


def test_sign_in_without_the_forms_csrf_token_is_refused(client: TestClient, world: World) -> None:
    client.get("/signin")
    response = client.post(
        "/signin", data={"csrf": "forged", "name": "alice", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert world.sessions() == 0


def test_the_session_cookie_is_http_only_strict_and_expires(client: TestClient) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin", data={"csrf": csrf_of(page.text), "name": "bob", "password": PASSWORD}
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("railgraph_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie


def test_names_are_matched_without_regard_to_case(client: TestClient, world: World) -> None:
    sign_in(client, "ALICE")
    page = client.get("/queue")
    assert page.status_code == 200
    assert "alice <small>(reviewer)</small>" in page.text


def test_a_session_ends_when_it_expires(client: TestClient, world: World) -> None:
    sign_in(client, "alice")
    world.clock.now += 8 * 3600 - 1
    assert client.get("/queue").status_code == 200
    world.clock.now += 1
    assert client.get("/queue").status_code == 303


def test_signing_out_ends_the_session(client: TestClient, world: World) -> None:
    token = sign_in(client, "alice")
    cookie = client.cookies.get("railgraph_session")
    assert world.sessions() == 1
    assert client.post("/signout", data={"csrf": token}).status_code == 303
    assert world.sessions() == 0
    client.cookies.set("railgraph_session", str(cookie))
    assert client.get("/queue").status_code == 303


def test_sign_out_with_a_bad_csrf_token_is_refused(client: TestClient, world: World) -> None:
    sign_in(client, "alice")
    response = client.post("/signout", data={"csrf": "forged"})
    assert response.status_code == 403
    assert world.sessions() == 1


def test_sign_in_goes_back_only_to_a_page_of_this_site(client: TestClient, world: World) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "csrf": csrf_of(page.text),
            "name": "alice",
            "password": PASSWORD,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/queue"


def test_the_users_page_is_for_admins(client: TestClient, world: World) -> None:
    sign_in(client, "alice")
    refused = client.get("/users")
    assert refused.status_code == 403
    assert "alice is a reviewer; this page is for admins only" in refused.text
    client.cookies.clear()
    sign_in(client, "root")
    page = client.get("/users")
    assert page.status_code == 200
    assert [n for n in ("alice", "bob", "root") if f"<td>{n}</td>" in page.text] == [
        "alice",
        "bob",
        "root",
    ]


def test_pages_carry_security_headers(client: TestClient, world: World) -> None:
    response = client.get("/signin")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_the_proxy_header_counts_only_when_configured(world: World) -> None:
    with TestClient(create_app(settings(world)), follow_redirects=False) as plain:
        assert plain.get("/queue", headers={"X-Remote-User": "alice"}).status_code == 303
    configured = settings(world, trusted_header="X-Remote-User")
    with TestClient(create_app(configured), follow_redirects=False) as proxied:
        page = proxied.get("/queue", headers={"X-Remote-User": "bob"})
        assert page.status_code == 200
        assert "bob <small>(reviewer)</small>" in page.text
        assert proxied.get("/queue", headers={"X-Remote-User": "mallory"}).status_code == 303


def test_only_loopback_is_served_while_nobody_can_sign_in() -> None:
    check_host("127.0.0.1", users=0, trusted_header=None)
    check_host("::1", users=0, trusted_header=None)
    check_host("localhost", users=0, trusted_header=None)
    check_host("0.0.0.0", users=1, trusted_header=None)
    check_host("0.0.0.0", users=0, trusted_header="X-Remote-User")
    with pytest.raises(InputError, match=r"refusing to listen on 0\.0\.0\.0: nobody can sign in"):
        check_host("0.0.0.0", users=0, trusted_header=None)


def test_repeated_wrong_passwords_make_the_name_wait(client: TestClient, world: World) -> None:
    def attempt(password: str) -> int:
        page = client.get("/signin")
        data = {"csrf": csrf_of(page.text), "name": "Bob", "password": password}
        return client.post("/signin", data=data).status_code

    assert [attempt("guess") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 429  # even the right password, for a while
    assert world.sessions() == 0
    world.clock.now += 15 * 60
    assert attempt(PASSWORD) == 303
    assert world.sessions() == 1
