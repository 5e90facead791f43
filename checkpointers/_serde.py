"""Loading checkpoints through an allowlist: a stored row can name data, never code.

LangGraph's msgpack format stores an object as an extension that names a module, a
callable in it and its arguments; its default serializer imports and calls whatever a row
names, so a row written by anyone with access to the file (`os.system`, `subprocess.run`)
runs on the next `resume`. `AllowlistSerializer` writes exactly what LangGraph's serializer
writes and reads it back only when every object a value names is on its allowlist:
LangGraph's own safe types (dates, UUIDs, messages from langchain-core, `Send`, ...), plus
the types of each graph's state (registered when a graph compiles on the saver, see
`model_types`) and any the caller names. Anything else, and any format but msgpack, JSON
(langchain-core objects only), bytes and null, is refused with a `StoreError` before
anything is imported or called.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import typing
from collections.abc import Callable, Iterable
from typing import Any

import ormsgpack
import typing_extensions
from langgraph.checkpoint.serde._msgpack import SAFE_MSGPACK_METHODS, SAFE_MSGPACK_TYPES
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from railgraph.errors import StoreError

__all__ = ["AllowlistSerializer", "TypeName", "model_types", "type_name"]

TypeName = tuple[str, str]
"""A type as a stored row names it: (module, qualified name)."""

# LangGraph's msgpack extension codes (see `langgraph.checkpoint.serde.jsonplus`). The
# constructor and pydantic ones carry (module, name, args...); the method one carries
# (module, name, arg, method); the others carry data only.
_CONSTRUCTOR_CODES = frozenset({0, 1, 2, 4, 5})
_METHOD_CODE = 3
_DATA_CODES = frozenset({6, 7})  # a numpy array's bytes; a delta snapshot of a value

_LOADED_FORMATS = ("null", "bytes", "bytearray", "msgpack", "json")


def type_name(cls: type) -> TypeName:
    """How a stored row names ``cls``."""
    return (cls.__module__, cls.__qualname__)


def model_types(model: type[Any]) -> set[type]:
    """The classes a value of ``model`` may hold, at any depth, that a checkpoint stores by name.

    Pydantic models, dataclasses and enums reachable through the fields' annotations
    (``list[Item]``, ``Receipt | None``, ``dict[str, Kind]``, ...), ``model`` included;
    typed dicts are looked into (they are stored as plain dicts).
    """
    found: set[type] = set()
    todo: list[Any] = [model]
    seen: set[int] = set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        for arg in typing.get_args(item):
            todo.append(arg)
        origin = typing.get_origin(item)
        if origin is not None and origin is not typing.Annotated:
            todo.append(origin)
        if not isinstance(item, type):
            continue
        if typing_extensions.is_typeddict(item):
            todo.extend(typing.get_type_hints(item).values())
        elif issubclass(item, BaseModel):
            found.add(item)
            todo.extend(field.annotation for field in item.model_fields.values())
        elif dataclasses.is_dataclass(item):
            found.add(item)
            todo.extend(typing.get_type_hints(item).values())
        elif issubclass(item, enum.Enum):
            found.add(item)
    return found - {BaseModel}


class _Refused(Exception):
    """Raised inside the msgpack extension hook; ormsgpack hides it, so it is also kept aside."""


class AllowlistSerializer(SerializerProtocol):
    """LangGraph's serializer for writing; for reading, only what the allowlist names.

    Args:
        allowed: Types (or (module, name) pairs) that stored values may name, beyond
            LangGraph's safe types.
    """

    def __init__(self, allowed: Iterable[type | TypeName] = ()) -> None:
        self._lock = threading.Lock()
        self._allowed: frozenset[TypeName] = frozenset(
            (t[0], t[1]) for t in SAFE_MSGPACK_TYPES if len(t) == 2
        )
        self._writer = JsonPlusSerializer()
        self._builder = JsonPlusSerializer(allowed_msgpack_modules=None)
        self.allow(allowed)

    @property
    def allowed(self) -> frozenset[TypeName]:
        """Every (module, name) a stored value may name."""
        return self._allowed

    def allow(self, allowed: Iterable[type | TypeName]) -> None:
        """Add types that stored values may name (a graph's state models, say)."""
        names = {type_name(a) if isinstance(a, type) else (a[0], a[1]) for a in allowed}
        with self._lock:
            if names <= self._allowed:
                return
            self._allowed = self._allowed | names
            # LangGraph's reader builds the objects once this class has checked them all.
            self._builder = JsonPlusSerializer(allowed_msgpack_modules=list(self._allowed))

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize as LangGraph's default serializer does (msgpack, no pickle)."""
        return self._writer.dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Deserialize a stored value, refusing any object not on the allowlist.

        Raises:
            StoreError: The value names a type or callable not on the allowlist, is in
                a format railgraph never writes (pickle, ...) or is corrupt.
        """
        value_type, payload = data
        if value_type not in _LOADED_FORMATS:
            raise StoreError(
                f"a checkpoint value in the database is stored as {value_type!r}, a format "
                "railgraph never writes and does not load (it could run code); the file was "
                "changed outside railgraph. Restore it from a backup."
            )
        if value_type != "msgpack":
            try:
                return self._writer.loads_typed(data)
            except Exception as exc:
                raise _corrupt(exc) from None
        refused: list[str] = []
        hook = _checking_hook(self._allowed, self._builder, refused)
        try:
            return ormsgpack.unpackb(payload, ext_hook=hook, option=ormsgpack.OPT_NON_STR_KEYS)
        except StoreError:
            raise
        except Exception as exc:
            if refused:
                raise StoreError(refused[0]) from None
            raise _corrupt(exc) from None


def _corrupt(exc: Exception) -> StoreError:
    return StoreError(
        f"a checkpoint value in the database cannot be read ({type(exc).__name__}: {exc}); "
        "the file is damaged or was changed outside railgraph. Restore it from a backup."
    )


def _refusal(what: str) -> str:
    return (
        f"a checkpoint value in the database names {what}, which is not on the list of types "
        "railgraph loads from checkpoints; nothing was imported or run. If the row was not "
        "written by your graph, the file was tampered with: restore it from a backup. If it is "
        "a type your state holds, pass it in `allowed_types` to `Runner.open` or "
        "`SqliteCheckpointer.from_path`."
    )


def _checking_hook(
    allowed: frozenset[TypeName], builder: JsonPlusSerializer, refused: list[str]
) -> Callable[[int, bytes], Any]:
    def hook(code: int, data: bytes) -> Any:
        if code in _CONSTRUCTOR_CODES or code == _METHOD_CODE:
            # Inner values first, through this hook, so nothing nested escapes the check.
            parts = ormsgpack.unpackb(data, ext_hook=hook, option=ormsgpack.OPT_NON_STR_KEYS)
            if (
                not isinstance(parts, list | tuple)
                or len(parts) < (4 if code == _METHOD_CODE else 3)
                or not all(isinstance(p, str) for p in parts[:2])
            ):
                refused.append(_refusal(f"a malformed object (extension {code})"))
                raise _Refused
            module, name = parts[0], parts[1]
            if code == _METHOD_CODE:
                method = parts[3]
                if (module, name, method) not in SAFE_MSGPACK_METHODS:
                    refused.append(_refusal(f"the method {module}.{name}.{method}"))
                    raise _Refused
            elif (module, name) not in allowed:
                refused.append(_refusal(f"{module}.{name}"))
                raise _Refused
        elif code not in _DATA_CODES:
            refused.append(_refusal(f"an unknown msgpack extension {code}"))
            raise _Refused
        # Checked, nested values included: let LangGraph build it, with the same allowlist.
        packed = ormsgpack.packb(ormsgpack.Ext(code, data))
        return builder.loads_typed(("msgpack", packed))

    return hook
