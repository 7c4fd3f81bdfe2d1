"""The built-in plugins, and the registry a config sees (built-ins, plugin folders, entry points).

Importing this module imports the built-in backbones and encodings, which register themselves
into `autoorder.registry.table.BUILTINS`; the registry package never imports them. The doors
on the built-ins (timm's style): `list_backbones(pattern)`, `list_encodings(pattern)`,
`create_backbone(name)`, `create_encoding(name)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from autoorder.model import backbones as _backbones  # noqa: F401  (registers the built-in backbones)
from autoorder.model import encodings as _encodings  # noqa: F401  (registers the built-in encodings)
from autoorder.registry import discovery
from autoorder.registry.table import BUILTINS, Registry


def builtins() -> Registry:
    """The registry of built-ins (every built-in module imported)."""
    return BUILTINS


def list_backbones(pattern: str = "*") -> list[str]:
    return BUILTINS.list_backbones(pattern)


def list_encodings(pattern: str = "*") -> list[str]:
    return BUILTINS.list_encodings(pattern)


def create_backbone(name: str) -> Any:
    return BUILTINS.get_backbone(name)


def create_encoding(name: str) -> Any:
    return BUILTINS.get_encoding(name)


def load_registry(paths: Iterable[Path] = (), disable: Iterable[str] = (), use_entry_points: bool = True) -> Registry:
    """Built-ins, then plugin folders, then entry points; a duplicate name is an error."""
    return discovery.load_registry(BUILTINS, paths, disable, use_entry_points)


def registry_for(cfg: Any) -> Registry:
    """The registry a config sees, with `space.backbone_options` applied through `configure`."""
    reg = load_registry(cfg.plugin_paths(), cfg.plugins.disable, cfg.plugins.entry_points)
    for name, options in cfg.space.backbone_options.items():
        discovery.configure_backbone(reg, name, options, cfg)
    return reg
