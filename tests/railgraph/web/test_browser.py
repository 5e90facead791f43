"""The review page in a real browser: headless Chromium from the system's packages, driven by
Playwright, against the app served by uvicorn on a loopback socket; runs started by the CLI in
other processes; the database checked after every step.

``RAILGRAPH_SCREENSHOTS=docs/screenshots`` saves the README's pictures of the queue and a run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from railgraph.web import WebSettings, create_app

from .conftest import PASSWORD, World

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
WAIT_MS = 20_000


def chromium() -> str:
    found = os.environ.get("RAILGRAPH_CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser")
    assert found, "no Chromium on PATH; ./scripts/setup installs it (apt-get install chromium)"
    return found


@pytest.fixture
def server(world: World) -> Iterator[str]:
    """The app on a loopback socket that listens before the server starts, so no wait is
    needed: the browser's first connection queues until uvicorn accepts it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    app = create_app(WebSettings(db=world.db, poll_seconds=0.25))
    served = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def cli(world: World, *args: str) -> Any:
    """A ``railgraph`` command in its own process, as a person would type it."""
    done = subprocess.run(
        [sys.executable, "-m", "railgraph", *args, "--db", str(world.db), "--json"],
        cwd=world.db.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def row(world: World, request_id: str) -> tuple[str, str | None, dict[str, Any] | None]:
    with sqlite3.connect(world.db) as conn:
        status, by, decision = conn.execute(
            "SELECT status, decided_by, decision FROM approvals WHERE request_id = ?",
            (request_id,),
        ).fetchone()
    return status, by, json.loads(decision) if decision else None


def run_status(world: World, run_id: str) -> str:
    with sqlite3.connect(world.db) as conn:
        (status,) = conn.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return str(status)


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/queue")
    expect(page).to_have_url(f"{base}/signin?next=%2Fqueue")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/queue")


def shoot(page: Page, name: str, tmp: Path) -> None:
    folder = Path(os.environ.get("RAILGRAPH_SCREENSHOTS") or tmp)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target))
    assert target.read_bytes().startswith(b"\x89PNG")


def test_review_in_a_browser(world: World, server: str, browser: Browser, tmp_path: Path) -> None:
    first = cli(world, "run", "railgraph.graphs.refund:graph", "--input", '{"ticket_id": "T-1002"}')
    refund_request = first["pending"][0]["request_id"]
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    sign_in(page, server, "bob")
    expect(page.locator(f"#request-{refund_request}")).to_be_visible()
    page.goto(f"{server}/runs/{first['run_id']}")
    expect(page.locator("figure.run-diagram svg")).to_be_visible()
    shoot(page, "run", tmp_path)
    page.goto(f"{server}/queue")

    # A request started from the CLI appears without reloading the page.
    page.evaluate("window.__not_reloaded = true")
    second = cli(
        world, "run", "payouts:graph", "--input", '{"account":"AC-7","amount":250}', "--by", "dave"
    )
    pay_request = second["pending"][0]["request_id"]
    expect(page.locator(f"#request-{pay_request}")).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("window.__not_reloaded") is True
    shoot(page, "queue", tmp_path)

    # Open its run; an invalid edit is refused next to its field and decides nothing.
    page.locator(f"#request-{pay_request} a[href^='/runs/']").click()
    expect(page).to_have_url(f"{server}/runs/{second['run_id']}")
    card = page.locator(f"#request-{pay_request}")
    card.get_by_text("Edit the arguments, then approve").click()
    card.get_by_label("amount").fill("5000")
    card.get_by_role("button", name="Approve with these arguments").click()
    card = page.locator(f"#request-{pay_request}")
    expect(card.locator(".field.invalid .field-error")).to_have_text(
        "Input should be less than or equal to 1000"
    )
    assert row(world, pay_request) == ("pending", None, None)

    # Approve with a valid edit: recorded under the signed-in reviewer, the run completes.
    card.get_by_label("amount").fill("120")
    card.get_by_label("urgent").check()
    card.get_by_role("button", name="Approve with these arguments").click()
    expect(page.locator(".flash")).to_contain_text(f"request {pay_request} approved with your edit")
    status, by, decision = row(world, pay_request)
    assert (status, by) == ("edited", "bob")
    assert decision is not None and decision["args"] == {"amount": 120.0, "urgent": True}
    assert run_status(world, second["run_id"]) == "completed"

    # Reject the refund from the queue, with a reason.
    page.goto(f"{server}/queue")
    card = page.locator(f"#request-{refund_request}")
    card.get_by_label("Reject — why *").fill("the customer already got a voucher")
    card.get_by_role("button", name="Reject").click()
    expect(page.locator(".flash")).to_contain_text(f"request {refund_request} rejected")
    status, by, decision = row(world, refund_request)
    assert (status, by) == ("rejected", "bob")
    assert decision is not None and decision["reason"] == "the customer already got a voucher"
    assert run_status(world, first["run_id"]) == "rejected"
    expect(page.get_by_text("No requests waiting.")).to_be_visible()

    # An admin cancels a waiting run, with a reason.
    third = cli(world, "run", "payouts:graph", "--input", '{"account":"AC-8","amount":10}')
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "root")
    page.goto(f"{server}/runs/{third['run_id']}")
    page.get_by_label("Cancel the run for good — why *").fill("opened twice")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator(".flash")).to_contain_text(f"run {third['run_id']} is now cancelled")
    assert run_status(world, third["run_id"]) == "cancelled"
    assert row(world, third["pending"][0]["request_id"])[:2] == ("cancelled", "root")
