"""The research agent: loops retrieve → summarize → verify citations → budget check.

Each round fetches two new documents from the demo library, drafts a summary that cites
them, verifies every citation names a document actually retrieved (a draft citing anything
else is sent back once with the failures), keeps the draft, and checks that the cost
envelope still has room for another summary. When it has none, the run stops as
``budget_exhausted`` with the summary so far: a partial result, not an error.

Offline by default: a scripted chat model that writes deterministic drafts (the second
round's first draft cites a document it never saw, so the verify-retry loop shows).
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

from railgraph import (
    END,
    FAIL,
    START,
    BudgetEnvelope,
    GraphBuilder,
    ModelPrice,
    Predicate,
    RailGraph,
    RequiredFields,
    ToolRegistry,
)
from railgraph.graphs._library import Library

__all__ = ["ResearchState", "ScriptedResearcher", "graph", "make_graph"]

SCRIPTED_MODEL = "scripted-research-model"
PRICE = ModelPrice(input_per_mtok=3.0, output_per_mtok=15.0)
TOKENS_IN, TOKENS_OUT = 2000, 300
COST_PER_DRAFT = PRICE.cost(TOKENS_IN, TOKENS_OUT)
"""What one scripted draft costs: $0.0105."""
_CITATION = re.compile(r"\[(D-\d+)\]")


class ScriptedResearcher(BaseChatModel):
    """An offline chat model that drafts a summary citing the documents in its prompt."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = "\n".join(str(m.content) for m in messages)
        found = re.search(r"Round (\d+)", prompt)
        round_no = int(found.group(1)) if found else 1
        new = re.findall(r"^- (D-\d+)", prompt.split("New documents:")[-1], re.M)
        retried = "failed verification" in prompt
        cited = new if (round_no != 2 or retried) else [*new[:1], "D-99"]
        text = f"Round {round_no}: " + " ".join(f"finding [{doc}]." for doc in cited)
        usage = {
            "input_tokens": TOKENS_IN,
            "output_tokens": TOKENS_OUT,
            "total_tokens": TOKENS_IN + TOKENS_OUT,
        }
        message = AIMessage(text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    @property
    def _llm_type(self) -> str:
        return SCRIPTED_MODEL


class SearchQuery(BaseModel):
    question: str
    exclude: list[str] = Field(default_factory=list)
    limit: int = Field(default=2, ge=1, le=5)


class Document(BaseModel):
    doc_id: str
    title: str
    body: str


class SearchResults(BaseModel):
    documents: list[Document]


class ResearchState(BaseModel):
    """What the research agent has gathered so far."""

    question: str
    max_rounds: int = Field(default=5, ge=1)
    round: int = 0
    batch: SearchResults | None = None
    documents: list[Document] = Field(default_factory=list)
    draft: str | None = None
    notes: list[str] = Field(default_factory=list)
    summary: str | None = None


def _tools(library: Library) -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool(tier="read", timeout_s=5, retries=1)
    def search_library(args: SearchQuery) -> SearchResults:
        """Find documents about the question that the run has not read yet."""
        rows = library.search(args.question.split(), exclude=args.exclude, limit=args.limit)
        return SearchResults.model_validate({"documents": rows})

    return tools


def _collect(state: ResearchState) -> dict[str, Any]:
    batch = state.batch.documents if state.batch else []
    return {"documents": [*state.documents, *batch], "round": state.round + 1}


def _prompt(state: ResearchState) -> str:
    new = state.batch.documents if state.batch else []
    lines = "\n".join(f"- {d.doc_id}: {d.title}. {d.body}" for d in new)
    return (
        f"Question: {state.question}\nRound {state.round}\n"
        f"Cite every claim as [D-n] with a document listed here.\nNew documents:\n{lines}"
    )


def _cites_only_retrieved(value: dict[str, Any]) -> bool:
    return set(_CITATION.findall(value["draft"] or "")) <= set(value["retrieved"])


def _keep(state: ResearchState) -> dict[str, Any]:
    notes = [*state.notes, state.draft or ""]
    return {"notes": notes, "summary": "\n".join(notes)}


def _enough(state: ResearchState) -> str:
    return "done" if state.round >= state.max_rounds or not state.batch else "more"


def make_graph(
    *,
    model: BaseChatModel | None = None,
    model_name: str | None = None,
    library: Library | None = None,
    budget: BudgetEnvelope | None = None,
) -> RailGraph:
    """Build the research agent.

    Args:
        model: The chat model that drafts summaries; an offline scripted one by default.
        model_name: Name for pricing and reports; taken from the model when unset.
        library: The document library; ``.railgraph/library.db`` by default.
        budget: The graph's envelope; by default room for three drafts ($0.035).
    """
    g = GraphBuilder(
        "research",
        ResearchState,
        tools=_tools(library or Library()),
        budget=budget
        or BudgetEnvelope(steps=80, llm_calls=10, tool_calls=10, cost_usd=0.035, retries=4),
        prices={SCRIPTED_MODEL: PRICE},
        description=__doc__.splitlines()[0] if __doc__ else "",
    )
    g.tool(
        "retrieve",
        tool="search_library",
        args=lambda s: {"question": s.question, "exclude": [d.doc_id for d in s.documents]},
        output="batch",
    )
    g.step("collect", _collect)
    g.llm(
        "summarize",
        model=model or ScriptedResearcher(),
        model_name=model_name or (None if model else SCRIPTED_MODEL),
        prompt=_prompt,
        output="draft",
    )
    g.verify(
        "verify_citations",
        on=lambda s: {"draft": s.draft, "retrieved": [d.doc_id for d in s.documents]},
        checks=[
            RequiredFields("draft"),
            Predicate(
                _cites_only_retrieved,
                message="the draft cites a document that was not retrieved",
                path="draft",
            ),
        ],
        retry="summarize",
        max_retries=1,
        passed="keep",
        failed=FAIL,
    )
    g.step("keep", _keep)
    g.budget("budget", within="enough", exceeded=END, needs={"cost_usd": COST_PER_DRAFT})
    g.route("enough", _enough, targets={"more": "retrieve", "done": END})
    g.edge(START, "retrieve")
    g.edge("retrieve", "collect")
    g.edge("collect", "summarize")
    g.edge("summarize", "verify_citations")
    g.edge("keep", "budget")
    return g.build()


graph = make_graph()
"""The reference research agent, offline: ``railgraph run railgraph.graphs.research:graph``."""
