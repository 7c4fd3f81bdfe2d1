"""A small typed mapping between dataclasses and JSON, with messages that name the file and key.

A record is a dataclass whose fields are annotated with JSON types: str, int, float, bool, Any,
`X | None`, `list[X]`, `dict[str, X]` and other records. `load(Record, data, source)` checks
every known key against its annotation (an int is accepted where a float is expected), fills
missing keys with the field's default (a field without a default is required), and ignores keys
it does not know (files from a newer minor change still load). `dump(record)` gives plain data.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from autoorder.core.errors import RunError, describe

T = TypeVar("T")


class SchemaError(RunError):
    """A results or benchmark file does not have the shape this version writes."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the data comes from, for messages: `The results file 'x/results.json'`."""

    what: str
    path: str | Path | None = None

    def name(self) -> str:
        return f"The {self.what} {str(self.path)!r}" if self.path is not None else f"The {self.what}"


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _expected(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_expected(a) for a in inner) + (" or null" if len(inner) < len(args) else "")
    if origin is list:
        return f"a list of {_expected(args[0]) if args else 'values'}"
    if origin is dict:
        return f"a mapping of {_expected(args[1]) if len(args) > 1 else 'values'}"
    if dataclasses.is_dataclass(tp):
        return "an object"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, getattr(tp, "__name__", str(tp)))


def _fail(source: Source, key: str, tp: Any, value: Any, nullable: bool = False) -> SchemaError:
    where = f"key {key!r}" if key else "the top level"
    expected = _expected(tp) + (" or null" if nullable else "")
    return SchemaError(
        f"{source.name()} is not valid: {where} must be {expected}. Got {describe(value)} instead. "
        "Rerun the command that wrote it, or restore the file."
    )


def _convert(tp: Any, value: Any, key: str, source: Source, nullable: bool = False) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # X | None: X's own message, which names the deepest key
            return _convert(options[0], value, key, source, nullable=True)
        for arg in options:
            try:
                return _convert(arg, value, key, source)
            except SchemaError:
                continue
        raise _fail(source, key, tp, value)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(source, key, tp, value, nullable)
        return [_convert(args[0], v, f"{key}[{i}]", source) for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, key, tp, value, nullable)
        inner = args[1] if len(args) > 1 else Any
        return {str(k): _convert(inner, v, f"{key}.{k}" if key else str(k), source) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _load_record(tp, value, key, source, nullable)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, key, tp, value, nullable)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, tp, value, nullable)
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise _fail(source, key, tp, value, nullable)
        return value
    raise TypeError(f"unsupported annotation {tp!r} in a record")  # a bug in a record, not in a file


def _load_record(cls: type[T], data: Any, key: str, source: Source, nullable: bool = False) -> T:
    if not isinstance(data, dict):
        raise _fail(source, key, cls, data, nullable)
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        sub = f"{key}.{f.name}" if key else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(
                    f"{source.name()} is not valid: key {sub!r} is missing ({_expected(hints[f.name])} expected). "
                    "Rerun the command that wrote it, or restore the file."
                )
            continue
        values[f.name] = _convert(hints[f.name], data[f.name], sub, source)
    return cls(**values)


def load(cls: type[T], data: Any, source: Source) -> T:
    """`data` (parsed JSON) as a `cls` record, every known key checked."""
    return _load_record(cls, data, "", source)


def dump(record: Any) -> Any:
    """Plain JSON data of a record (nested records, lists and dicts included)."""
    if dataclasses.is_dataclass(record):
        return {f.name: dump(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, (list, tuple)):
        return [dump(v) for v in record]
    if isinstance(record, dict):
        return {str(k): dump(v) for k, v in record.items()}
    return record


def check_version(data: Any, current: int, source: Source) -> int:
    """The file's schema_version (1 when absent: written before versions were recorded)."""
    version = data.get("schema_version", 1) if isinstance(data, dict) else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(source, "schema_version", int, version)
    if version > current:
        raise SchemaError(
            f"{source.name()} has schema_version {version}, newer than this autoorder reads ({current}). "
            "Upgrade autoorder (pip install -U autoorder) to read it."
        )
    return version
