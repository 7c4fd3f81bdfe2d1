"""Plugin discovery, in a fixed order: built-ins, `plugins.paths` folders, entry points.

Nothing is imported from a folder the config does not name. A plugin file is loaded by path
under a private module name; every module-level object that looks like a backbone or an
encoding (has `name` plus `build` and `freeze_points`, or `build` and `uses_order`) is
registered, as is anything listed in an optional module-level `AUTOORDER_PLUGINS` list.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from typing import Any, Iterable

from autoorder.errors import PluginError
from autoorder.registry import Registry, builtins

BACKBONE_GROUP = "autoorder.backbones"
ENCODING_GROUP = "autoorder.encodings"


def kind_of(obj: Any) -> str | None:
    """'backbone', 'encoding' or None, by the methods an object (or its instances) has."""
    if not (inspect.isclass(obj) or not inspect.ismodule(obj)):
        return None
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return None
    has = lambda a: hasattr(obj, a)  # noqa: E731
    if has("build") and has("freeze_points"):
        return "backbone"
    if has("build") and has("uses_order"):
        return "encoding"
    return None


def _load_file(path: Path) -> Any:
    mod_name = "autoorder_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10] + "_" + path.stem
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"Plugin file {str(path)!r} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any error in user code is reported with its place
        sys.modules.pop(mod_name, None)
        frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
        line = f", line {frames[-1].lineno}" if frames else (f", line {e.lineno}" if isinstance(e, SyntaxError) else "")
        raise PluginError(f"Plugin file {str(path)}{line} fails to import: {type(e).__name__}: {e}") from None
    return module


def candidates_in_module(module: Any) -> list[tuple[str, Any]]:
    """(kind, object) pairs a plugin module offers, in definition order."""
    listed = getattr(module, "AUTOORDER_PLUGINS", None)
    objs = list(listed) if listed is not None else [
        v for k, v in vars(module).items() if not k.startswith("_") and getattr(v, "__module__", None) == module.__name__
    ]
    out = []
    for obj in objs:
        k = kind_of(obj)
        if k is not None:
            out.append((k, obj))
    return out


def plugin_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for folder in paths:
        if not folder.exists():
            continue
        if not folder.is_dir():
            raise PluginError(f"Plugin path {str(folder)!r} is not a folder. Expected a folder of .py files.")
        files.extend(sorted(p for p in folder.glob("*.py") if not p.name.startswith("_")))
    return files


def _register(reg: Registry, kind: str, obj: Any, source: str, disabled: set[str]) -> None:
    name = getattr(obj, "name", None)
    if name in disabled:
        return
    if kind == "backbone":
        reg.register_backbone(obj, source)
    else:
        reg.register_encoding(obj, source)


def entry_points(group: str) -> list[Any]:
    return list(importlib.metadata.entry_points(group=group))


def load_registry(
    paths: Iterable[Path] = (), disable: Iterable[str] = (), use_entry_points: bool = True
) -> Registry:
    """Built-ins, then plugin folders, then entry points; a duplicate name is an error."""
    disabled = set(disable)
    reg = Registry()
    base = builtins()
    for table, add in ((base.backbones, reg.register_backbone), (base.encodings, reg.register_encoding)):
        for name, entry in table.items():
            if name not in disabled:
                add(entry.obj, entry.source)
    for path in plugin_files(paths):
        module = _load_file(path)
        for kind, obj in candidates_in_module(module):
            _register(reg, kind, obj, str(path), disabled)
    if use_entry_points:
        for group, kind in ((BACKBONE_GROUP, "backbone"), (ENCODING_GROUP, "encoding")):
            for ep in entry_points(group):
                dist = getattr(getattr(ep, "dist", None), "name", "?")
                source = f"entry point {ep.name!r} ({dist})"
                try:
                    obj = ep.load()
                except Exception as e:  # noqa: BLE001
                    raise PluginError(f"Plugin {source} = {ep.value} fails to import: {type(e).__name__}: {e}") from None
                _register(reg, kind, obj, source, disabled)
    return reg


def registry_for(cfg: Any) -> Registry:
    """The registry a config sees, with `space.backbone_options` applied through `configure`."""
    reg = load_registry(cfg.plugin_paths(), cfg.plugins.disable, cfg.plugins.entry_points)
    for name, options in cfg.space.backbone_options.items():
        configure_backbone(reg, name, options, cfg)
    return reg


def configure_backbone(reg: Registry, name: str, options: dict, cfg: Any) -> None:
    from autoorder.config import ConfigError, did_you_mean

    if name not in reg.backbones:
        raise ConfigError(
            f"The 'space.backbone_options' key in {cfg.source} names {name!r}, which is not a registered backbone. "
            f"Expected one of {reg.list_backbones()}.{did_you_mean(name, reg.backbones)}"
        )
    entry = reg.backbones[name]
    configure = getattr(entry.obj, "configure", None)
    if not callable(configure):
        raise ConfigError(
            f"The 'space.backbone_options.{name}' key in {cfg.source} gives options, but backbone {name!r} "
            f"({entry.source}) takes none (it has no configure method)."
        )
    try:
        configured = configure(base_dir=cfg.base_dir, **options)
    except TypeError as e:
        raise ConfigError(f"The 'space.backbone_options.{name}' key in {cfg.source} is not accepted: {e}.") from None
    reg.backbones[name] = type(entry)(name, configured, entry.source)
