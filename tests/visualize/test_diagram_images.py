"""Real Graphviz renders: a run's styling in the SVG, PNG and HTML files, and no Graphviz."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from railgraph import RailGraph, Runner
from railgraph.errors import RailgraphError, RenderError
from railgraph.graphs import refund
from railgraph.visualize import design_diagram, render_image, run_diagram, to_dot, write_diagram

REFUND = "railgraph.graphs.refund:graph"
SVG = "{http://www.w3.org/2000/svg}"
TAKEN = "#0d47a1"
FADED_EDGE = "#cfd8dc"


def parts(svg: bytes) -> dict[str, ET.Element]:
    """SVG groups by the ids railgraph gave them (``node-…``, ``edge-…``)."""
    root = ET.fromstring(svg)
    return {
        g.attrib["id"]: g
        for g in root.iter(f"{SVG}g")
        if g.attrib.get("id", "").startswith(("node-", "edge-"))
    }


def classes(group: ET.Element) -> set[str]:
    return set(group.attrib["class"].split())


def stroke(group: ET.Element) -> tuple[str, str]:
    """Colour and width of a group's outline (its first path, polygon or ellipse)."""
    shape = next(el for el in group if el.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse"))
    return shape.attrib["stroke"], shape.attrib.get("stroke-width", "1")


def edge(groups: dict[str, ET.Element], source: str, target: str) -> ET.Element:
    [found] = [
        g for i, g in groups.items() if i.startswith("edge-") and i.endswith(f"-{source}-{target}")
    ]
    return found


@pytest.fixture
async def paused_run(runner: Runner, refund_graph: RailGraph, read_path: Any) -> Any:
    await runner.start(REFUND, {"ticket_id": "T-1002"}, run_id="T-1002")
    return await read_path(refund_graph, "T-1002")


def test_svg_carries_the_runs_styling_on_taken_parts_only(
    refund_graph: RailGraph, paused_run: Any
) -> None:
    svg = render_image(to_dot(run_diagram(refund_graph.spec, paused_run)), "svg")
    groups = parts(svg)

    for node in ("load_ticket", "classify", "verify_invoice", "budget", "by_amount"):
        assert "rg-taken" in classes(groups[f"node-{node}"]), node
        assert stroke(groups[f"node-{node}"])[1] == "2.6"
    for node in ("escalate", "create_refund", "notify_customer", "notify_declined"):
        assert "rg-faded" in classes(groups[f"node-{node}"]), node
        assert stroke(groups[f"node-{node}"]) == ("#bdbdbd", "1.4")
    paused = groups["node-approve_refund"]
    assert {"rg-taken", "rg-stop-paused", "rg-kind-approve"} <= classes(paused)
    assert stroke(paused) == ("#6a1b9a", "4")

    taken = edge(groups, "by_amount", "approve_refund")
    assert "rg-taken" in classes(taken)
    assert stroke(taken) == (TAKEN, "3")
    assert "#8" in "".join(taken.itertext())
    for source, target in (("by_amount", "create_refund"), ("verify_invoice", "escalate")):
        untaken = edge(groups, source, target)
        assert "rg-faded" in classes(untaken)
        assert "rg-taken" not in classes(untaken)
        assert stroke(untaken) == (FADED_EDGE, "1.4")


def test_png_html_dot_and_mermaid_files(
    tmp_path: Path, refund_graph: RailGraph, paused_run: Any
) -> None:
    diagram = run_diagram(refund_graph.spec, paused_run)

    png = write_diagram(diagram, tmp_path / "run.png").read_bytes()
    html = write_diagram(diagram, tmp_path / "run.html", run=paused_run).read_text()
    dot = write_diagram(diagram, tmp_path / "run.dot").read_text()
    mmd = write_diagram(diagram, tmp_path / "out" / "run.mmd").read_text()

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert dot == to_dot(diagram)
    assert mmd.startswith('---\ntitle: "refund — run T-1002: paused"\n---\nflowchart TD\n')
    assert html.startswith("<!DOCTYPE html>")
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    assert html.count("<svg") == 1
    assert "rg-stop-paused" in classes(parts(svg.encode())["node-approve_refund"])
    for section in ("Summary", "Spend by node", "Decisions", "Timeline"):
        assert f"<h2>{section}</h2>" in html
    assert "tool load_ticket (read), attempt 1: ok · args {&quot;ticket_id&quot;: " in html
    assert '<td>approve_refund</td><td class="status">pending</td>' in html
    # Self-contained: nothing is fetched, nothing runs.
    for outside in ("<script", "<link", "src=", "@import", "url("):
        assert outside not in html


def test_without_graphviz_text_works_and_images_say_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    diagram = design_diagram(refund.graph.spec)

    assert write_diagram(diagram, tmp_path / "d.dot").read_text() == to_dot(diagram)
    assert write_diagram(diagram, tmp_path / "d.mmd").exists()
    for name in ("d.svg", "d.png", "d.html"):
        with pytest.raises(RenderError) as caught:
            write_diagram(diagram, tmp_path / name)
        message = str(caught.value)
        assert "Graphviz's `dot` program is not on PATH" in message
        assert "./scripts/setup" in message
        assert "apt-get install graphviz" in message and "brew install graphviz" in message
        assert not (tmp_path / name).exists()
    assert issubclass(RenderError, RailgraphError)


def test_an_unknown_extension_lists_the_formats(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"end the file name with one of .dot, .mmd, .svg, "):
        write_diagram(design_diagram(refund.graph.spec), tmp_path / "graph.gif")
