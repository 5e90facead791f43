"""A self-contained HTML report: the SVG diagram inlined, and for a run its summary, spend by
node, decisions and a timeline of events. No scripts, no external stylesheets, fonts or
images: the file opens the same offline, attached to a ticket, or years later.
"""

from __future__ import annotations

import json
from collections import defaultdict
from html import escape

from railgraph.visualize._model import Diagram
from railgraph.visualize._path import RunPath, Visit
from railgraph.visualize._run import when
from railgraph.visualize._text import duration, money, number

__all__ = ["html_report"]

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; color: #212121; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #cfd8dc; }
.sub { color: #455a64; margin: 0; }
.diagram { border: 1px solid #cfd8dc; border-radius: 6px; padding: .5rem; overflow: auto; }
.diagram svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #eceff1;
         vertical-align: top; }
th { color: #455a64; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kind { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: .8rem;
        background: #eceff1; color: #37474f; white-space: nowrap; }
.kind.tool_call { background: #e8f5e9; color: #1b5e20; }
.kind.llm_call { background: #ede7f6; color: #4527a0; }
.kind.verdict { background: #e0f7fa; color: #006064; }
.kind.budget_check, .kind.budget_exhausted { background: #fff8e1; color: #6d4c00; }
.kind.approval_requested, .kind.approval_decided { background: #fce4ec; color: #880e4f; }
.kind.run_failed { background: #ffebee; color: #b71c1c; }
.status { font-weight: 600; }
footer { margin-top: 2rem; color: #90a4ae; font-size: .8rem; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _svg_body(svg: str) -> str:
    """The ``<svg>`` element alone, without the XML prolog and doctype."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _summary(path: RunPath) -> str:
    rows = [
        ("run", path.run_id),
        ("graph", path.graph),
        ("status", path.status),
        ("reason", path.reason or ""),
        ("started", when(path.started_at)),
        ("last change", when(path.updated_at)),
    ]
    for key in ("steps", "llm_calls", "tool_calls", "tokens", "retries"):
        value = path.usage.get(key)
        if isinstance(value, int | float) and value:
            rows.append((key.replace("_", " "), number(value)))
    wall = path.usage.get("wall_s")
    if isinstance(wall, int | float) and wall:
        rows.append(("time in nodes", duration(wall * 1000)))
    cost = path.usage.get("cost_usd")
    if isinstance(cost, int | float):
        rows.append(("cost", money(float(cost))))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows if v != "")
    return f"<h2>Summary</h2><table>{body}</table>"


def _spend(path: RunPath) -> str:
    by_node: dict[str, list[Visit]] = defaultdict(list)
    for visit in path.visits:
        if visit.finished:
            by_node[visit.node].append(visit)
    if not by_node:
        return ""
    head = (
        "<tr><th>node</th><th>visits</th><th>time</th><th>tool calls</th>"
        "<th>tokens</th><th>cost</th></tr>"
    )
    rows = []
    for node, visits in by_node.items():
        timed = [v.duration_ms for v in visits if v.duration_ms is not None]
        tools = sum(v.usage.get("tool_calls", 0.0) for v in visits)
        tokens = sum(v.usage.get("tokens", 0.0) for v in visits)
        cost = sum(v.usage.get("cost_usd", 0.0) for v in visits)
        cells = [
            len(visits),
            duration(sum(timed)) if timed else "",
            number(tools) if tools else "",
            number(tokens) if tokens else "",
            money(cost) if cost else "",
        ]
        rows.append(
            f"<tr><td>{_e(node)}</td>"
            + "".join(f'<td class="num">{_e(c)}</td>' for c in cells)
            + "</tr>"
        )
    return f"<h2>Spend by node</h2><table>{head}{''.join(rows)}</table>"


def _decisions(path: RunPath) -> str:
    if not path.decisions:
        return ""
    rows = "".join(
        f'<tr><td>{_e(d.node)}</td><td class="status">{_e(d.decision)}</td>'
        f"<td>{_e(d.by or '')}</td><td>{_e(d.reason or '')}</td>"
        f"<td>{_e(json.dumps(d.args, sort_keys=True) if d.args else '')}</td></tr>"
        for d in path.decisions
    )
    head = "<tr><th>gate</th><th>decision</th><th>by</th><th>reason</th><th>edit</th></tr>"
    return f"<h2>Decisions</h2><table>{head}{rows}</table>"


def _timeline(path: RunPath) -> str:
    if not path.timeline:
        return ""
    origin = path.started_at if path.started_at is not None else path.timeline[0].at
    rows = []
    for entry in path.timeline:
        offset = f"+{duration(max(0.0, entry.at - origin) * 1000)}"
        took = duration(entry.duration_ms) if entry.duration_ms is not None else ""
        rows.append(
            f'<tr><td class="num">{_e(offset)}</td><td>{_e(entry.node or "")}</td>'
            f'<td><span class="kind {_e(entry.kind)}">{_e(entry.kind.replace("_", " "))}</span>'
            f'</td><td>{_e(entry.text)}</td><td class="num">{_e(took)}</td></tr>'
        )
    head = "<tr><th>at</th><th>node</th><th>event</th><th>what</th><th>took</th></tr>"
    return f"<h2>Timeline</h2><table>{head}{''.join(rows)}</table>"


def html_report(diagram: Diagram, svg: str, run: RunPath | None = None) -> str:
    """One HTML page: the diagram, and for a run its summary, spend, decisions and timeline.

    Args:
        diagram: The diagram (for the title and subtitle).
        svg: The diagram drawn as SVG by Graphviz.
        run: The run whose report this is, if any.
    """
    subtitle = "".join(f'<p class="sub">{_e(line)}</p>' for line in diagram.subtitle)
    sections = [_summary(run), _spend(run), _decisions(run), _timeline(run)] if run else []
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(diagram.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(diagram.title)}</h1>{subtitle}</header>\n"
        f'<section class="diagram">\n{_svg_body(svg)}</section>\n'
        + "\n".join(s for s in sections if s)
        + "\n<footer>rendered by railgraph</footer>\n</body>\n</html>\n"
    )
