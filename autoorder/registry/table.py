"""Registries of backbones and order encodings: one dict each, three doors.

`register_*` adds, `list_*(pattern)` lists, `get_*` fetches. Built-ins register into
`BUILTINS` when their modules are imported (`autoorder.model.catalog` imports them); plugin
discovery (`autoorder.registry.discovery`) builds a `Registry` that starts from a copy of it.
This module never imports what registers into it.
"""

from __future__ import annotations

import fnmatch
import inspect
from dataclasses import dataclass
from typing import Any

from autoorder.core.errors import PluginError, describe, did_you_mean


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    source: str  # "builtin", a file path, or "entry point NAME (distribution DIST)"


def _instantiate(obj: Any) -> Any:
    # A class passes a runtime Protocol check for its instances: instantiate first.
    return obj() if inspect.isclass(obj) else obj


class Registry:
    """Backbones and encodings by name, each with where it came from."""

    def __init__(self) -> None:
        self.backbones: dict[str, Entry] = {}
        self.encodings: dict[str, Entry] = {}

    def copy(self) -> "Registry":
        new = Registry()
        new.backbones = dict(self.backbones)
        new.encodings = dict(self.encodings)
        return new

    def _add(self, table: dict[str, Entry], kind: str, obj: Any, source: str) -> Any:
        inst = _instantiate(obj)
        name = getattr(inst, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"The {kind} from {source} must have a non-empty string attribute 'name'. "
                f"Got {describe(name)} instead."
            )
        if name in table:
            raise PluginError(
                f"Two {kind}s are named {name!r}: one from {table[name].source}, one from {source}. "
                f"Rename one, or list one under plugins.disable."
            )
        table[name] = Entry(name, inst, source)
        return obj

    def register_backbone(self, obj: Any, source: str = "builtin") -> Any:
        return self._add(self.backbones, "backbone", obj, source)

    def register_encoding(self, obj: Any, source: str = "builtin") -> Any:
        return self._add(self.encodings, "order encoding", obj, source)

    def list_backbones(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self.backbones if fnmatch.fnmatch(n, pattern))

    def list_encodings(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self.encodings if fnmatch.fnmatch(n, pattern))

    def _get(self, table: dict[str, Entry], kind: str, name: str) -> Any:
        if name not in table:
            raise PluginError(
                f"Unknown {kind} {name!r}. Expected one of {sorted(table)}.{did_you_mean(name, table)}"
            )
        return table[name].obj

    def get_backbone(self, name: str) -> Any:
        return self._get(self.backbones, "backbone", name)

    def get_encoding(self, name: str) -> Any:
        return self._get(self.encodings, "order encoding", name)


BUILTINS = Registry()


def register_backbone(obj: Any) -> Any:
    """Class or instance decorator: register a built-in backbone."""
    return BUILTINS.register_backbone(obj)


def register_encoding(obj: Any) -> Any:
    """Class or instance decorator: register a built-in order encoding."""
    return BUILTINS.register_encoding(obj)

