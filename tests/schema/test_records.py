"""The typed JSON mapping behind every results file: checks once, names the file and the key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autoorder.schema.records import SchemaError, Source, check_version, dump, load


@dataclass
class Inner:
    x: float
    tags: list[str] = field(default_factory=list)


@dataclass
class Outer:
    name: str
    inner: Inner
    scores: dict[str, float | None] = field(default_factory=dict)
    maybe: Inner | None = None
    count: int = 0


SRC = Source("test file", "/tmp/x.json")


def test_round_trip_and_defaults():
    data = {"name": "a", "inner": {"x": 1, "tags": ["t"]}, "scores": {"0": 0.5, "1": None}, "extra": "ignored"}
    rec = load(Outer, data, SRC)
    assert rec == Outer("a", Inner(1.0, ["t"]), {"0": 0.5, "1": None}, None, 0)
    assert isinstance(rec.inner.x, float)  # an int where a float is expected is accepted as a float
    assert dump(rec) == {"name": "a", "inner": {"x": 1.0, "tags": ["t"]}, "scores": {"0": 0.5, "1": None}, "maybe": None, "count": 0}


@pytest.mark.parametrize(
    "data, key, expected",
    [
        ({"name": 3, "inner": {"x": 1}}, "'name'", "a string"),
        ({"name": "a", "inner": {"x": "1"}}, "'inner.x'", "a number"),
        ({"name": "a", "inner": {"x": 1, "tags": ["t", 2]}}, r"'inner.tags\[1\]'", "a string"),
        ({"name": "a", "inner": {"x": 1}, "scores": {"s0": "high"}}, "'scores.s0'", "a number or null"),
        ({"name": "a", "inner": {"x": 1}, "count": True}, "'count'", "an integer"),
        ({"name": "a", "inner": [1]}, "'inner'", "an object"),
    ],
)
def test_a_wrong_value_names_the_file_the_key_and_what_is_expected(data, key, expected):
    with pytest.raises(SchemaError, match=rf"test file '/tmp/x.json' is not valid: key {key} must be {expected}\. Got"):
        load(Outer, data, SRC)


def test_a_missing_required_key_and_a_non_object_are_named():
    with pytest.raises(SchemaError, match=r"key 'inner' is missing"):
        load(Outer, {"name": "a"}, SRC)
    with pytest.raises(SchemaError, match=r"the top level must be an object\. Got \[1, 2\]"):
        load(Outer, [1, 2], SRC)


def test_versions_older_files_load_newer_files_are_refused():
    assert check_version({}, 2, SRC) == 1  # written before versions were recorded
    assert check_version({"schema_version": 2}, 2, SRC) == 2
    with pytest.raises(SchemaError, match=r"schema_version 3, newer than this autoorder reads \(2\)\. Upgrade autoorder"):
        check_version({"schema_version": 3}, 2, SRC)
    with pytest.raises(SchemaError, match="key 'schema_version' must be an integer"):
        check_version({"schema_version": "2"}, 2, SRC)
