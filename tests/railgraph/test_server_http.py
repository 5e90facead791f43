"""The refund graph served by a real ``langgraph dev``, driven over its HTTP API.

One server for the module, started in a temporary project with the ``langgraph.json`` and the
module README documents; it reaches no network (analytics off, no LangSmith key). Each test runs a
ticket over $100 on its own thread: the thread is ``interrupted`` with railgraph's review
request in Agent Inbox's shape, an answer resumes it through ``/runs`` with
``command.resume``, and the run store, the ledger and the helpdesk are read after each step.
The server's blocking-call guard (blockbuster) is on, as ``langgraph dev`` sets it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from railgraph.checkpointers import RunRecord, SqliteCheckpointer
from railgraph.graphs._helpdesk import Helpdesk
from tests.postgres_server import free_port

pytestmark = pytest.mark.slow

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
# The project README documents, as written there.
(LANGGRAPH_JSON,) = [b for b in re.findall(r"```json\n(.*?)```", README, re.S) if '"graphs"' in b]
(SERVE_PY,) = [b for b in re.findall(r"```py\n(.*?)```", README, re.S) if "served(" in b]
(SERVE_SH,) = [b for b in re.findall(r"```sh\n(.*?)```", README, re.S) if "langgraph dev" in b]
# The bodies README's curl lines send: a new thread, the run's input, the reviewer's answer.
README_THREAD, README_START, README_RESUME = [
    json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", SERVE_SH)
]
START_S = 120.0
"""How long the server may take to come up (it imports a lot, on a busy machine)."""


class Server:
    """A ``langgraph dev`` on localhost in its own project directory."""

    def __init__(self, project: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.project = project
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        self.process = process

    def run(self, thread_id: str, **body: Any) -> Any:
        response = self.http.post(
            f"/threads/{thread_id}/runs/wait",
            # The server's default durability ("async"): the served graph stores every step.
            json={"assistant_id": "refund", **body},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def thread(self, thread_id: str) -> Any:
        return self.http.get(f"/threads/{thread_id}").json()

    def new_thread(self) -> str:
        return str(self.http.post("/threads", json=README_THREAD).json()["thread_id"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("langgraph_api", reason="needs the server extra: pip install -e .[server]")
    project = tmp_path_factory.mktemp("served")
    (project / "langgraph.json").write_text(LANGGRAPH_JSON)
    assert json.loads(LANGGRAPH_JSON)["graphs"] == {"refund": "./serve.py:refund"}
    (project / "serve.py").write_text(SERVE_PY)
    # README's first line starts the server: the same command here, on a free port and
    # without its file watcher; the curl lines call the paths `Server` calls.
    setting, *command = shlex.split(SERVE_SH.splitlines()[0])
    assert (setting, command) == (
        "LANGGRAPH_CLI_NO_ANALYTICS=1",
        ["langgraph", "dev", "--no-browser", "--host", "127.0.0.1", "--port", "2024"],
    )
    assert re.findall(r"localhost:2024(\S*)", SERVE_SH) == [
        "/threads",
        "/threads/$T/runs/wait",
        "/threads/$T",
        "/threads/$T/runs/wait",
    ]
    port = free_port()
    name, value = setting.split("=")
    env = {
        **os.environ,
        name: value,
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
    }
    env.pop("LANGSMITH_API_KEY", None)
    env.pop("LANGGRAPH_ALLOW_BLOCKING", None)
    log = (project / "server.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), *command[1:-1], str(port), "--no-reload"],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    served = Server(project, port, process)
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert process.poll() is None, (project / "server.log").read_text()[-3000:]
            try:
                if served.http.get("/ok").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "langgraph dev did not come up"
            time.sleep(0.2)  # waiting for another process to listen, not timing anything
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        served.http.close()


@pytest.fixture
async def store(server: Server) -> AsyncIterator[SqliteCheckpointer]:
    """The server's database, read as `railgraph runs` reads it."""
    async with SqliteCheckpointer.from_path(
        server.project / "railgraph.db", read_only=True
    ) as opened:
        yield opened


async def record(store: SqliteCheckpointer, run_id: str) -> RunRecord:
    found = await store.store.get_run(run_id)
    assert found is not None
    return found


def refunds(server: Server, ticket: str) -> list[float]:
    return [r["amount"] for r in Helpdesk(server.project / "helpdesk.db").refunds(ticket)]


def interrupt_of(thread: Any) -> Any:
    """The thread's one interrupt's value, as Agent Inbox reads it."""
    (asked,) = [i for interrupts in thread["interrupts"].values() for i in interrupts]
    return asked["value"]


async def test_a_paused_refund_is_an_interrupted_thread_and_accept_finishes_it(
    server: Server, store: SqliteCheckpointer
) -> None:
    tid = server.new_thread()
    server.run(tid, **README_START)

    thread = server.thread(tid)
    assert thread["status"] == "interrupted"
    (asked,) = interrupt_of(thread)
    assert asked["action_request"] == {
        "action": "create_refund",
        "args": {"ticket_id": "T-1002", "invoice_id": "INV-5002", "amount": 480.0},
    }
    assert asked["config"] == {
        "allow_accept": True,
        "allow_edit": True,
        "allow_respond": True,
        "allow_ignore": False,
    }
    assert asked["description"].splitlines()[0] == (
        "**refund of $480.00 is over the $100.00 limit**"
    )
    state = server.http.get(f"/threads/{tid}/state").json()
    assert [(t["name"], [i["value"] for i in t["interrupts"]]) for t in state["tasks"]] == [
        ("__railgraph_settle__", [[asked]])
    ]
    paused = await record(store, tid)
    assert (paused.status, paused.error) == (
        "paused",
        "approve_refund: refund of $480.00 is over the $100.00 limit",
    )
    (request,) = await store.store.list_approvals(run_id=tid, status=None)
    assert (request.request_id, request.status) == (asked["railgraph"]["request_id"], "pending")
    assert await store.store.list_effects(tid) == []
    assert refunds(server, "T-1002") == []

    server.run(tid, **README_RESUME)

    thread = server.thread(tid)
    assert (thread["status"], thread["interrupts"]) == ("idle", {})
    assert thread["values"]["refund"]["amount"] == 480.0
    done = await record(store, tid)
    assert (done.status, done.error, done.lease_owner) == ("completed", None, None)
    (request,) = await store.store.list_approvals(run_id=tid, status=None)
    assert (request.status, request.decided_by) == ("approved", "maria")
    effects = await store.store.list_effects(tid)
    assert [(e.tool, e.status) for e in effects] == [
        ("create_refund", "completed"),
        ("notify_customer", "completed"),
    ]
    assert refunds(server, "T-1002") == [480.0]
    events = [(e.kind, e.node) for e in await store.store.list_events(tid)]
    assert events[0] == ("run_started", None)
    assert events[-1] == ("run_finished", None)
    assert events.count(("tool_call", "create_refund")) == 1
    assert ("approval_decided", "approve_refund") in events


async def test_an_edit_through_the_api_refunds_the_edited_amount(
    server: Server, store: SqliteCheckpointer
) -> None:
    tid = server.new_thread()
    server.run(tid, input={"ticket_id": "T-1003"})
    (asked,) = interrupt_of(server.thread(tid))
    # As Agent Inbox sends it: the action back, every argument as text.
    edited = {key: str(value) for key, value in asked["action_request"]["args"].items()}
    edited["amount"] = "900"
    response = {"type": "edit", "args": {"action": "create_refund", "args": edited}}

    # Without a name the answer is refused and asked again; nothing is recorded.
    server.run(tid, command={"resume": [response]})
    thread = server.thread(tid)
    assert thread["status"] == "interrupted"
    (again,) = interrupt_of(thread)
    assert again["description"].splitlines()[0] == (
        "**Your last answer was refused:** the answer names no reviewer and the server "
        'authenticated nobody: add "by": "<your name>" to the response'
    )
    assert (await record(store, tid)).status == "paused"

    server.run(tid, command={"resume": [{**response, "by": "maria"}]})

    assert server.thread(tid)["status"] == "idle"
    assert (await record(store, tid)).status == "completed"
    (request,) = await store.store.list_approvals(run_id=tid, status=None)
    assert request.status == "edited"
    assert request.decision is not None
    assert request.decision["args"] == {"amount": 900}
    assert refunds(server, "T-1003") == [900.0]


async def test_a_response_through_the_api_rejects_the_refund(
    server: Server, store: SqliteCheckpointer
) -> None:
    tid = server.new_thread()
    server.run(tid, input={"ticket_id": "T-1002"})
    server.run(
        tid, command={"resume": [{"type": "response", "args": "already refunded", "by": "lee"}]}
    )

    assert server.thread(tid)["status"] == "idle"
    rejected = await record(store, tid)
    assert (rejected.status, rejected.error) == ("rejected", "rejected by lee: already refunded")
    assert [e.tool for e in await store.store.list_effects(tid)] == ["notify_customer"]
