"""Fixtures shared by the whole suite.

Every test works in its own directory with its own default databases; the node, builder and
runner tests also get a fake clock and timer, a runner on a real SQLite file, and scripted
chat models that remember what they were asked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from railgraph import Runner
from railgraph._settings import DB_ENV
from railgraph.graphs._helpdesk import HELPDESK_ENV
from railgraph.nodes import DIMENSIONS
from tests.postgres_server import PostgresServer


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in a fresh working directory with its own default databases."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.delenv(HELPDESK_ENV, raising=False)
    yield tmp_path


class FakeTime:
    """A wall clock and a duration timer that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.elapsed = 0.0

    def clock(self) -> float:
        return self.now

    def timer(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        """Make the node that is running appear to take ``seconds`` longer."""
        self.now += seconds
        self.elapsed += seconds


class RecordingChatModel(FakeMessagesListChatModel):
    """A scripted chat model that keeps the messages of every call it served.

    It answers with its responses in turn; a subclass that answers from the conversation
    overrides `reply` alone.
    """

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self.reply(messages))])

    def reply(self, messages: list[BaseMessage]) -> BaseMessage:
        """The answer to ``messages``: the next scripted response."""
        return super()._generate(messages).generations[0].message


class FollowingModel(RecordingChatModel):
    """An agent's model: its first reply while no tool result is in the conversation, its
    second once one is, however often it is asked (in any process, after any crash)."""

    def reply(self, messages: list[BaseMessage]) -> BaseMessage:
        answered = any(isinstance(m, ToolMessage) for m in messages)
        return self.responses[int(answered)]


def strict_json(text: str) -> Any:
    """JSON as the databases read it: ``NaN`` and ``Infinity`` are no JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


ChatFactory = Callable[..., RecordingChatModel]


def reply(text: str, input_tokens: int, output_tokens: int) -> AIMessage:
    """An AI message with the usage a provider would report."""
    return AIMessage(
        text,
        usage_metadata={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    )


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def chat() -> ChatFactory:
    """``chat(("text", in_tokens, out_tokens), ...)``: a model replying with those, in order."""

    def make(*replies: tuple[str, int, int]) -> RecordingChatModel:
        return RecordingChatModel(responses=[reply(*r) for r in replies])

    return make


@pytest.fixture
async def runner(tmp_path: Path, fake_time: FakeTime) -> AsyncIterator[Runner]:
    async with Runner.open(
        tmp_path / "rg.db", clock=fake_time.clock, timer=fake_time.timer
    ) as opened:
        yield opened


@pytest.fixture
def dims() -> Callable[[dict[str, Any]], dict[str, float]]:
    """Usage as the seven budget dimensions, missing ones as 0."""

    def pick(usage: dict[str, Any]) -> dict[str, float]:
        return {d: usage.get(d, 0) for d in DIMENSIONS}

    return pick


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (started only when a test asks for it)."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL database of this test's own."""
    return postgres_server.create_database()
