"""The workload profile as Markdown, for a review document (``railgraph profile --md``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["profile_markdown"]


def _cell(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _pct(rate: float | None, part: int | None = None, whole: int | None = None) -> str:
    if rate is None:
        return "—"
    counted = f" ({part} of {whole})" if part is not None and whole is not None else ""
    return f"{rate * 100:.1f}%{counted}"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:.6f}"


def profile_markdown(profile: dict[str, Any]) -> str:
    """The profile (design parts, and stored runs when present) as a Markdown document."""
    graph, run = profile["graph"], profile["run"]
    owner = profile["owner"]
    lines = [
        f"# Workload profile: {graph['name']}",
        "",
        f"`{graph['ref']}` · signature `{graph['signature']}` · owner "
        + (
            f"**{owner['owner']}**"
            if owner["owner"]
            else "_not declared_ (GraphBuilder(owner=...))"
        ),
        "",
    ]
    if graph["description"]:
        lines += [f"> {graph['description']}", ""]
    lines += [
        "## 1. Run",
        "",
        f"- Entry: {_cell(run['entry'])}",
        f"- Resumable: {run['resumable']}",
    ]
    for fan in run["parallel"]:
        lines.append(f"- Parallel: after {fan['from']}, {_cell(fan['branches'])} run at once")
    for join in run["joins"]:
        lines.append(f"- Join: {join['into']} waits for {_cell(join['from'])}")
    lines += ["", "Ends:", ""]
    lines += _table(
        ("from node", "outcome", "run ends"),
        ((e["node"], e["outcome"], e["status"]) for e in run["ends"]),
    )
    lines += ["Pauses for a person:", ""]
    lines += _table(
        ("gate", "reviews", "expires after"),
        (
            (
                p["gate"],
                p["reviews"],
                _secs(p["expires_after_s"]) if p["expires_after_s"] else "never",
            )
            if "gate" in p
            else (f"crash during {p['unknown_effect']}", p["unknown_effect"], "never")
            for p in run["pauses"]
        ),
    )
    lines += ["Loops:", ""]
    lines += _table(("nodes", "bounded by"), ((lp["nodes"], lp["bounds"]) for lp in run["loops"]))
    lines += ["## 2. Tools", ""]
    lines += _table(
        (
            "tool",
            "tier",
            "policy",
            "approval at",
            "idempotent",
            "ledgered",
            "reversible",
            "retries",
            "called by",
        ),
        (
            (
                t["name"],
                t["tier"],
                t["policy"],
                t["approval"],
                t["idempotent"],
                t["ledgered"],
                t["reversible"],
                t["retries"],
                t["called_by"],
            )
            for t in profile["tools"]
        ),
    )
    memory = profile["memory"]
    lines += ["## 3. Memory", ""]
    lines += _table(
        ("state field", "type", "checkpointed", "secret"),
        ((f["field"], f["type"], f["checkpointed"], f["secret"]) for f in memory["state"]),
    )
    lines += ["Durable:", "", *(f"- {d}" for d in memory["durable"]), ""]
    lines += ["Only during the task:", "", *(f"- {d}" for d in memory["task_only"]), ""]
    lines += ["Never stored:", "", *(f"- {d}" for d in memory["never_stored"]), ""]
    budget = profile["budget"]
    lines += ["## 4. Budget", ""]
    lines += _table(("dimension", "limit"), budget["envelope"].items())
    lines += _table(
        ("reserved at", "needs"), ((r["gate"], r["needs"]) for r in budget["reservations"])
    )
    lines += [f"Enforced {budget['enforced']}.", ""]
    lines += ["## 5. Trace", ""]
    lines += _table(
        ("node", "material action", "recorded"),
        ((t["node"], t["action"], t["records"]) for t in profile["trace"]),
    )
    lines += ["## 6. Owner", "", f"Owner: {owner['owner'] or '_not declared_'}", ""]
    lines += _table(
        ("approve gate", "reviewers", "starter may approve"),
        ((r["gate"], r["reviewers"] or "anyone", r["self_approval"]) for r in owner["reviewers"]),
    )
    if "runs" in profile:
        lines += _runs(profile["runs"])
    return "\n".join(lines).rstrip() + "\n"


def _runs(runs: dict[str, Any]) -> list[str]:
    n = runs["runs"]
    lines = [f"## Stored runs (last {n})", ""]
    if not n:
        return [*lines, "No stored runs of this graph.", ""]
    statuses = runs["statuses"]
    wait, wall, cost = runs["approval_wait_s"], runs["wall_s"], runs["cost_usd"]
    rows = [
        ("statuses", _cell(statuses)),
        ("completion rate", _pct(runs["completion_rate"], statuses.get("completed", 0), n)),
        ("escalation rate (asked a person)", _pct(runs["escalation_rate"])),
        ("rejection rate", _pct(runs["rejection_rate"], statuses.get("rejected", 0), n)),
        ("retries", f"{runs['retries']['total']} in {runs['retries']['runs_with_retries']} runs"),
        ("decisions", _cell(runs["decisions"])),
        ("approval wait p50 / p95", f"{_secs(wait['p50'])} / {_secs(wait['p95'])}"),
        ("wall time p50 / p95 (ended runs)", f"{_secs(wall['p50'])} / {_secs(wall['p95'])}"),
        ("cost per run p50 / p95", f"{_usd(cost['p50'])} / {_usd(cost['p95'])}"),
        ("total cost", _usd(cost["total"])),
        ("**cost per completed outcome**", f"**{_usd(runs['cost_per_completed_usd'])}**"),
    ]
    return [*lines, *_table(("figure", "value"), rows)]
