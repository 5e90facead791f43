"""Where railgraph keeps its data, and how a graph reference is resolved."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from railgraph.errors import InputError

if TYPE_CHECKING:
    from railgraph._graph import RailGraph

__all__ = [
    "DB_ENV",
    "MOVED_PACKAGES",
    "REDACT_ENV",
    "SYNCHRONOUS_ENV",
    "canonical_ref",
    "db_exists",
    "default_db",
    "default_db_path",
    "is_postgres_url",
    "default_secret_words",
    "default_synchronous",
    "import_ref",
    "load_graph",
    "ref_of",
    "stored_ref",
]

DB_ENV = "RAILGRAPH_DB"
"""Environment variable that overrides the default database: a file path, or a PostgreSQL URL
(``postgresql://...`` or ``postgres://...``)."""
SYNCHRONOUS_ENV = "RAILGRAPH_SYNCHRONOUS"
"""Environment variable that chooses SQLite's durability: NORMAL (default) or FULL."""


REDACT_ENV = "RAILGRAPH_REDACT"
"""Environment variable naming the keys whose values are secrets (comma-separated words)."""


def default_secret_words() -> tuple[str, ...]:
    """The key words that name secrets: ``$RAILGRAPH_REDACT``, else railgraph's list.

    ``RAILGRAPH_REDACT=api_key,pin`` replaces the list; ``RAILGRAPH_REDACT=+ssn,pin`` adds
    to it. A key matches a word when, in snake case, it is the word or holds it between
    underscores (``access_token``, ``X-Api-Key``); ``SecretStr`` values are always redacted.
    """
    # Here: importing the store (and pydantic) at the top would cost `railgraph --help`.
    from railgraph.checkpointers import DEFAULT_SECRET_WORDS

    value = os.environ.get(REDACT_ENV, "").strip()
    if not value:
        return DEFAULT_SECRET_WORDS
    extend = value.startswith("+")
    words = tuple(w.strip() for w in value.removeprefix("+").split(",") if w.strip())
    return (*DEFAULT_SECRET_WORDS, *words) if extend else words


def default_synchronous() -> Literal["NORMAL", "FULL"]:
    """``$RAILGRAPH_SYNCHRONOUS`` (``NORMAL`` or ``FULL``), else ``NORMAL``.

    NORMAL survives a crash of the process (WAL pages reach the OS before a commit returns);
    FULL also survives a power loss (each commit waits for the disk), at some speed.

    Raises:
        InputError: The variable holds anything else.
    """
    value = os.environ.get(SYNCHRONOUS_ENV, "NORMAL").strip().upper() or "NORMAL"
    if value == "NORMAL":
        return "NORMAL"
    if value == "FULL":
        return "FULL"
    raise InputError(f"{SYNCHRONOUS_ENV}={value!r}; set it to NORMAL or FULL")


def default_db_path() -> Path:
    """``$RAILGRAPH_DB``, else ``.railgraph/railgraph.db`` under the working directory.

    For callers that need a SQLite file; `default_db` also gives a PostgreSQL URL.
    """
    return Path(os.environ.get(DB_ENV) or Path.cwd() / ".railgraph" / "railgraph.db")


def is_postgres_url(location: str | Path) -> bool:
    """Whether ``location`` is a PostgreSQL URL rather than a SQLite file path."""
    # Here: importing the store (and pydantic) at the top would cost `railgraph --help`.
    from railgraph.checkpointers import is_postgres_url as postgres

    return postgres(location)


def default_db() -> str | Path:
    """``$RAILGRAPH_DB`` (a PostgreSQL URL stays a string), else the default file path."""
    value = os.environ.get(DB_ENV, "").strip()
    return value if is_postgres_url(value) else default_db_path()


def db_exists(db: str | Path) -> bool:
    """Whether there is a database to read at ``db``: a file, or any PostgreSQL URL (the
    server says whether it holds a store)."""
    return is_postgres_url(db) or Path(db).expanduser().exists()


MOVED_PACKAGES = ("nodes", "graphs", "verifiers", "checkpointers", "visualize")
"""railgraph's packages that older references name without the ``railgraph.`` prefix."""


def canonical_ref(ref: str) -> str:
    """``ref`` as railgraph imports and stores it.

    A reference that starts with one of railgraph's own packages without the ``railgraph.``
    prefix, as stored runs and older scripts spell it (``graphs.<module>:graph``), names the
    module under railgraph (``railgraph.graphs.<module>:graph``), unless a package of that
    name that is not railgraph's is importable (a project's own ``graphs`` package in the
    working directory): then the reference is the project's and stays as it is. A folder
    without ``__init__.py`` (a ``graphs/`` of pictures) is not a package that takes the name.
    """
    module_name, sep, attr = ref.partition(":")
    root = module_name.partition(".")[0]
    if not sep or root not in MOVED_PACKAGES:
        return ref
    _cwd_on_path()
    ours = Path(__file__).resolve().parent / root
    try:
        spec = importlib.util.find_spec(root)
    except (ImportError, ValueError):
        return ref
    if spec is not None and spec.origin not in (None, "namespace"):
        found = [Path(p).resolve() for p in spec.submodule_search_locations or ()]
        if ours.resolve() not in found:
            return ref  # someone else's package of that name
    return f"railgraph.{module_name}:{attr}"


def _cwd_on_path() -> None:
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))


def import_ref(ref: str) -> object:
    """Import what a ``module:attribute`` reference names (the working directory is on the
    import path, as it is for ``python -m``); a reference to one of railgraph's packages
    without the ``railgraph.`` prefix names railgraph's (see :func:`canonical_ref`).

    Raises:
        InputError: The reference is malformed, the module cannot be imported, or it has no
            such attribute.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(
            f"graph reference {ref!r} must look like module:attribute, "
            "e.g. railgraph.graphs.refund:graph"
        )
    _cwd_on_path()
    module_name = canonical_ref(ref).partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InputError(
            f"cannot import module {module_name!r} of graph reference {ref!r} ({exc}); run "
            "from the project's directory or install the package that holds it"
        ) from None
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else f"line {exc.lineno}"
        raise InputError(
            f"module {module_name!r} of graph reference {ref!r} has a syntax error at {where} "
            f"({exc.msg}); fix it and try again"
        ) from None
    except Exception as exc:
        # The author's module ran and failed: say where, not how Python imports things.
        raise InputError(
            f"importing module {module_name!r} of graph reference {ref!r} raised "
            f"{type(exc).__name__}: {exc}; fix the module (`python -c 'import {module_name}'` "
            "shows the traceback)"
        ) from None
    if not hasattr(module, attr):
        raise InputError(f"module {module_name!r} has no attribute {attr!r}; check the reference")
    value: object = getattr(module, attr)
    return value


def load_graph(ref: str) -> RailGraph:
    """Import the railgraph graph a ``module:attribute`` reference names.

    Raises:
        InputError: As :func:`import_ref`, or the attribute is not a railgraph graph.
    """
    from railgraph._graph import RailGraph  # here: LangGraph loads with a graph

    graph = import_ref(ref)
    if not isinstance(graph, RailGraph):
        raise InputError(
            f"{ref} is a {type(graph).__name__}, not a railgraph graph; point at the result "
            "of GraphBuilder(...).build()"
        )
    return graph


def ref_of(graph: RailGraph) -> str | None:
    """The ``module:attribute`` reference under which ``graph`` can be imported, if any."""
    module = sys.modules.get(graph.module) if graph.module else None
    if module is None:
        return None
    for name, value in vars(module).items():
        if value is graph:
            return f"{graph.module}:{name}"
    return None


def stored_ref(graph: str | RailGraph) -> str:
    """The one reference under which runs of ``graph`` are stored, however it was spelt."""
    if isinstance(graph, str):
        return canonical_ref(graph)
    return ref_of(graph) or f"{graph.module or '__main__'}:{graph.name}"
