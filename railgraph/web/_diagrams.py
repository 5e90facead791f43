"""Diagrams for the pages, as inline SVG: a run on its graph, the designed graph, traffic, a diff.

Drawing calls Graphviz's ``dot`` in a worker thread, and each run's picture is kept until the
run changes. A graph that cannot be imported here, or a machine without Graphviz, gets no
picture and a sentence saying why, never a broken page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from railgraph._spec import GraphSpec
from railgraph.checkpointers import ApprovalRecord, EventRecord, RunRecord
from railgraph.errors import RailgraphError
from railgraph.visualize import (
    Diagram,
    design_diagram,
    diff_diagram,
    path_from_events,
    render_image,
    run_diagram,
    to_dot,
    traffic_diagram,
)

__all__ = ["Drawing", "Drawings"]

Drawing = tuple[str | None, str | None]
"""An SVG element to inline, or ``None`` and why there is none."""


def _svg_element(svg: str) -> str:
    """The ``<svg>`` element alone, without the XML prolog, doctype and comments before it."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


class Drawings:
    """Draws diagrams and keeps each run's until the run changes."""

    def __init__(self, limit: int = 256) -> None:
        self._runs: dict[tuple[str, float, int], str] = {}
        self._limit = limit

    async def draw(self, diagram: Diagram, *, legend: bool = True) -> Drawing:
        """An inline SVG of ``diagram``, or why it cannot be drawn."""
        try:
            dot = to_dot(diagram, with_legend=legend)
            svg = await asyncio.to_thread(render_image, dot, "svg")
        except RailgraphError as exc:
            return None, str(exc)
        return _svg_element(svg.decode()), None

    async def run(
        self,
        spec: GraphSpec,
        record: RunRecord,
        events: Sequence[EventRecord],
        approvals: Sequence[ApprovalRecord],
    ) -> Drawing:
        """The run's path on its graph, the node it waits at marked (no legend: it sits
        beside the request it explains)."""
        key = (record.run_id, record.updated_at, len(events))
        if key in self._runs:
            return self._runs[key], None
        path = path_from_events(spec, record, events, approvals)
        drawn, why = await self.draw(run_diagram(spec, path), legend=False)
        if drawn is not None:
            if len(self._runs) >= self._limit:
                self._runs.pop(next(iter(self._runs)))
            self._runs[key] = drawn
        return drawn, why

    async def design(self, spec: GraphSpec) -> Drawing:
        """The graph as designed."""
        return await self.draw(design_diagram(spec))

    async def traffic(
        self,
        spec: GraphSpec,
        runs: Sequence[tuple[RunRecord, Sequence[EventRecord], Sequence[ApprovalRecord]]],
    ) -> Drawing:
        """Many runs' traffic on the graph (oldest run first)."""
        paths = [path_from_events(spec, r, e, a) for r, e, a in runs]
        return await self.draw(traffic_diagram(spec, paths))

    async def diff(
        self, old: GraphSpec, new: GraphSpec, *, old_name: str, new_name: str
    ) -> Drawing:
        """What changed from ``old`` to ``new``."""
        return await self.draw(diff_diagram(old, new, old_name=old_name, new_name=new_name))
