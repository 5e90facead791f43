"""Reading values: plain data from models, dotted paths, short descriptions."""

import dataclasses

import pytest
from pydantic import BaseModel

from railgraph.verifiers._values import MISSING, describe, lookup, split_path, to_data


class Item(BaseModel):
    id: str


class Order(BaseModel):
    items: list[Item]
    codes: dict[int, str] = {}


@dataclasses.dataclass
class Point:
    x: int
    tags: tuple[str, ...]


def test_to_data_dumps_models_inside_plain_containers() -> None:
    data = {"order": Order(items=[Item(id="a")]), "points": (Point(1, ("t",)),)}
    assert to_data(data) == {
        "order": {"items": [{"id": "a"}], "codes": {}},
        "points": [{"x": 1, "tags": ["t"]}],
    }


def test_to_data_leaves_scalars_alone() -> None:
    assert [to_data(v) for v in (1, "s", None, 2.5)] == [1, "s", None, 2.5]


@pytest.mark.parametrize(
    ("path", "parts"),
    [("", ()), ("amount", ("amount",)), ("items.0.id", ("items", "0", "id"))],
)
def test_split_path(path: str, parts: tuple[str, ...]) -> None:
    assert split_path(path) == parts


@pytest.mark.parametrize("path", ["items..id", ".amount", "amount."])
def test_split_path_refuses_empty_parts(path: str) -> None:
    with pytest.raises(ValueError, match=r"has an empty part; write dotted paths like"):
        split_path(path)


DATA = to_data(Order(items=[Item(id="a"), Item(id="b")], codes={404: "not found"}))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", DATA),
        ("items.1.id", "b"),
        ("items.0", {"id": "a"}),
        ("codes.404", "not found"),
        ("items.2.id", MISSING),
        ("items.-1.id", MISSING),
        ("items.first", MISSING),
        ("items.0.id.x", MISSING),
        ("customer", MISSING),
    ],
)
def test_lookup(path: str, expected: object) -> None:
    assert lookup(DATA, split_path(path)) == expected


def test_lookup_tells_missing_from_none() -> None:
    assert lookup({"a": None}, ("a",)) is None
    assert lookup({"a": None}, ("b",)) is MISSING


def test_describe_is_bounded() -> None:
    assert describe("x" * 100) == "'" + "x" * 27 + "..." + "x" * 28 + "'"
    assert describe(list(range(10))) == "[0, 1, 2, 3, ...]"
