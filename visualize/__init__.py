"""Diagrams of railgraph graphs: the designed graph, a run's path, many runs' traffic, a diff.

Extract → model → text → image. Extractors read a spec and stored run data (run events, or a
plain LangGraph graph's checkpoints) into a small :class:`Diagram` model; renderers turn it
into deterministic DOT or Mermaid text; Graphviz's ``dot`` draws SVG and PNG, and the HTML
report inlines the SVG. Nothing here runs a graph::

    from railgraph.graphs.refund import graph
    from railgraph.visualize import design_diagram, to_dot, write_diagram

    text = to_dot(design_diagram(graph.spec))
    write_diagram(design_diagram(graph.spec), "refund.png")
"""

from railgraph.visualize._checkpoints import (
    path_from_checkpoints,
    read_checkpoints,
    spec_from_langgraph,
)
from railgraph.visualize._design import design_diagram
from railgraph.visualize._diff import diff_diagram
from railgraph.visualize._dot import to_dot
from railgraph.visualize._html import html_report
from railgraph.visualize._mermaid import to_mermaid
from railgraph.visualize._model import (
    Change,
    Diagram,
    DiagramEdge,
    DiagramNode,
    Emphasis,
    Mode,
    StopStatus,
)
from railgraph.visualize._output import FORMATS, output_format, render_image, write_diagram
from railgraph.visualize._path import (
    Decision,
    Hop,
    RunPath,
    Visit,
    link_steps,
    path_from_events,
)
from railgraph.visualize._run import run_diagram
from railgraph.visualize._sources import GraphSource, load_source, load_spec, read_run, read_runs
from railgraph.visualize._timeline import TimelineEntry, timeline_of
from railgraph.visualize._traffic import traffic_diagram

__all__ = [
    # diagrams from data
    "design_diagram",
    "run_diagram",
    "traffic_diagram",
    "diff_diagram",
    # run paths
    "RunPath",
    "Visit",
    "Hop",
    "Decision",
    "TimelineEntry",
    "timeline_of",
    "path_from_events",
    "link_steps",
    # plain LangGraph graphs
    "spec_from_langgraph",
    "read_checkpoints",
    "path_from_checkpoints",
    # the diagram model
    "Diagram",
    "DiagramNode",
    "DiagramEdge",
    "Mode",
    "Emphasis",
    "StopStatus",
    "Change",
    # text renderers
    "to_dot",
    "to_mermaid",
    # images and files
    "FORMATS",
    "output_format",
    "render_image",
    "html_report",
    "write_diagram",
    # reading graphs and runs
    "GraphSource",
    "load_source",
    "load_spec",
    "read_run",
    "read_runs",
]
