"""Write a diagram to a file whose extension names the format: DOT, Mermaid, SVG, PNG, HTML.

DOT and Mermaid are text made here; SVG and PNG are drawn by Graphviz's ``dot`` program (the
HTML report inlines the SVG). Without ``dot`` on ``PATH`` the text formats still work and the
image formats raise :class:`~railgraph.errors.RenderError` saying how to install Graphviz.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import graphviz

from railgraph.errors import RenderError
from railgraph.visualize._dot import to_dot
from railgraph.visualize._html import html_report
from railgraph.visualize._mermaid import to_mermaid
from railgraph.visualize._model import Diagram
from railgraph.visualize._path import RunPath

__all__ = ["FORMATS", "INSTALL_GRAPHVIZ", "output_format", "render_image", "write_diagram"]

FORMATS: dict[str, str] = {
    "dot": "Graphviz DOT text",
    "mmd": "Mermaid flowchart text",
    "svg": "SVG image",
    "png": "PNG image",
    "html": "HTML report",
}
"""Output formats by file extension; SVG, PNG and HTML need Graphviz's ``dot``."""

INSTALL_GRAPHVIZ = (
    "install Graphviz: run ./scripts/setup, or `apt-get install graphviz` (Debian/Ubuntu) "
    "or `brew install graphviz` (macOS)"
)
"""What to do when ``dot`` is missing."""


def output_format(path: str | Path) -> str:
    """The format a file's extension names.

    Raises:
        RenderError: The extension is not one of :data:`FORMATS`.
    """
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix not in FORMATS:
        listing = ", ".join(f".{ext}" for ext in FORMATS)
        raise RenderError(
            f"cannot tell what to write from {str(path)!r}: end the file name with one of {listing}"
        )
    return suffix


def render_image(dot_text: str, fmt: Literal["svg", "png"]) -> bytes:
    """Draw DOT text with Graphviz's ``dot``.

    Raises:
        RenderError: ``dot`` is not installed, or it could not draw the text.
    """
    if shutil.which("dot") is None:
        raise RenderError(
            f"Graphviz's `dot` program is not on PATH, so {fmt.upper()} cannot be drawn "
            f"(.dot and .mmd output work without it); {INSTALL_GRAPHVIZ}"
        )
    try:
        image: bytes = graphviz.Source(dot_text).pipe(format=fmt, engine="dot")
    except graphviz.ExecutableNotFound:
        raise RenderError(
            f"Graphviz's `dot` program could not be run, so {fmt.upper()} cannot be drawn; "
            f"{INSTALL_GRAPHVIZ}"
        ) from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        raise RenderError(f"Graphviz could not draw the diagram: {detail}") from None
    return image


def write_diagram(diagram: Diagram, path: str | Path, *, run: RunPath | None = None) -> Path:
    """Write ``diagram`` to ``path`` in the format its extension names.

    Args:
        diagram: What to draw.
        path: The file to write; its extension picks the format (see :data:`FORMATS`).
        run: For an HTML report of a run: its timeline, spend and decisions.

    Returns:
        The path written.

    The file is written whole or not at all: to a temporary file beside it, then renamed
    over it, so a full disk never leaves an empty or half-written diagram.

    Raises:
        RenderError: Unknown extension, an image format without Graphviz installed, the
            path is a folder, or the file cannot be written.
    """
    target = Path(path)
    fmt = output_format(target)
    if target.is_dir():
        example = str(target / f"graph.{fmt}")
        raise RenderError(f"{str(target)!r} is a folder; name a file in it, e.g. {example!r}")
    if fmt == "mmd":
        data = to_mermaid(diagram).encode()
    elif fmt == "dot":
        data = to_dot(diagram).encode()
    elif fmt == "html":
        svg = render_image(to_dot(diagram), "svg").decode()
        data = html_report(diagram, svg, run).encode()
    else:
        data = render_image(to_dot(diagram), "svg" if fmt == "svg" else "png")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, data)
    except OSError as exc:
        raise RenderError(
            f"cannot write {str(target)!r}: {exc.strerror or exc}; check that the folder is "
            "writable and the disk is not full"
        ) from None
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``target``'s folder, then rename it over ``target``."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
