"""Plugin discovery, in a fixed order: built-ins, `plugins.paths` folders, entry points.

The caller hands in the built-ins (`autoorder.model.catalog` does), so discovery never imports
the modules that register into a registry.

Nothing is imported from a folder the config does not name. A plugin file is loaded by path
under a private module name; every class defined in that file (or module-level instance of
one) that looks like a backbone (`freeze_points` or `default_image_size`) or an encoding
(`uses_order`) is registered, or else only what an optional module-level `AUTOORDER_PLUGINS`
list names. Each plugin passes the cheap shape checks of `autoorder.testing` (attributes and
signatures, no build) before it is registered, so a broken one is reported at load time with
its file or distribution and everything it lacks. `plugins.disable` names are skipped before
any check (and entry points with those names are not even imported).
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

from autoorder.core.errors import ConfigError, PluginError, describe, did_you_mean
from autoorder.registry.shape import check_shape as run_shape_checks
from autoorder.registry.table import Registry

BACKBONE_GROUP = "autoorder.backbones"
ENCODING_GROUP = "autoorder.encodings"


def _is_keras_class(cls: type) -> bool:
    # A plugin file's own keras Layer or Model subclasses have `build` and `name` too.
    return any((getattr(c, "__module__", "") or "").split(".")[0] == "keras" for c in cls.__mro__[1:])


def kind_of(obj: Any) -> str | None:
    """'backbone', 'encoding' or None, by the attributes an object (or its instances) has.

    Lenient on purpose: anything that looks like a plugin is classified, so that the shape
    checks can then say what it lacks (a backbone without `build` is reported, not skipped).
    """
    if inspect.ismodule(obj) or inspect.isroutine(obj):
        return None
    cls = obj if inspect.isclass(obj) else type(obj)
    if _is_keras_class(cls):
        return None
    has = lambda a: hasattr(obj, a)  # noqa: E731
    if has("freeze_points") or has("default_image_size"):
        return "backbone"
    if has("uses_order"):
        return "encoding"
    return None


def _near_miss(obj: Any) -> bool:
    """A string `name` and a `build`, but nothing that says which kind of plugin it is."""
    if inspect.ismodule(obj) or inspect.isroutine(obj):
        return False
    cls = obj if inspect.isclass(obj) else type(obj)
    return not _is_keras_class(cls) and isinstance(getattr(obj, "name", None), str) and hasattr(obj, "build")


def load_module(path: Path) -> Any:
    """Import one plugin file by path, under a private module name; errors name the file and line."""
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
        here = path.resolve()
        frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename).resolve() == here]
        line = f", line {frames[-1].lineno}" if frames else (f", line {e.lineno}" if isinstance(e, SyntaxError) else "")
        raise PluginError(f"Plugin file {str(path)}{line} fails to import: {type(e).__name__}: {e}") from None
    return module


def _defined_in(obj: Any, module: Any) -> bool:
    cls = obj if inspect.isclass(obj) else type(obj)
    return getattr(cls, "__module__", None) == module.__name__


def candidates_in_module(module: Any) -> list[tuple[str, Any]]:
    """(kind, object) pairs a plugin module offers, in definition order.

    Only classes defined in that file, and module-level instances of them, are considered
    (what the file imports is not its plugin). A class with a module-level instance counts
    once, as the instance. kind "unknown": has a name and a build method, but neither the
    attributes of a backbone nor those of an encoding, so the loader can say what is missing.
    """
    listed = getattr(module, "AUTOORDER_PLUGINS", None)
    if listed is not None:
        out = []
        for obj in listed:
            k = kind_of(obj)
            out.append((k or "unknown", obj))
        return out
    objs = [v for k, v in vars(module).items() if not k.startswith("_") and _defined_in(v, module)]
    instance_types = {type(v) for v in objs if not inspect.isclass(v)}
    out = []
    for obj in objs:
        if inspect.isclass(obj) and obj in instance_types:
            continue
        k = kind_of(obj)
        if k is not None:
            out.append((k, obj))
        elif _near_miss(obj):
            out.append(("unknown", obj))
    return out


def check_shape(kind: str, obj: Any, source: str) -> Any:
    """The cheap checks (attributes, signatures) at load time; returns the instance.

    Raises:
        PluginError: one message naming the plugin, its source and everything that is wrong.
    """
    if kind == "unknown":
        cls = obj if inspect.isclass(obj) else type(obj)
        raise PluginError(
            f"{cls.__name__} (name {getattr(obj, 'name', None)!r}) from {source} has a 'name' and a 'build' method "
            "but is neither a backbone (needs default_image_size and freeze_points()) nor an order encoding "
            "(needs uses_order). Add what is missing, or prefix the class name with '_' to hide it from autoorder."
        )
    if inspect.ismodule(obj) or inspect.isroutine(obj) or (kind_of(obj) is None and not hasattr(obj, "build")):
        what = "order encoding" if kind == "encoding" else kind
        raise PluginError(
            f"The {what} plugin from {source} must be a class or an instance with the {what} methods. "
            f"Got {describe(obj)} instead."
        )
    return run_shape_checks(kind, obj, source).instance


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
    declared = getattr(obj, "name", None)
    if isinstance(declared, str) and declared in disabled:
        return  # checked before the shape, so a broken plugin can be switched off
    inst = check_shape(kind, obj, source)
    if inst.name in disabled:
        return
    if kind == "backbone":
        reg.register_backbone(inst, source)
    else:
        reg.register_encoding(inst, source)


def entry_points(group: str) -> list[Any]:
    return list(importlib.metadata.entry_points(group=group))


def entry_point_source(ep: Any) -> str:
    """"entry point 'NAME' of DIST VERSION (module:attr)" for messages and listings."""
    dist = getattr(ep, "dist", None)
    of = ""
    if dist is not None and getattr(dist, "name", None):
        version = getattr(dist, "version", None)
        of = f" of {dist.name}{' ' + version if version else ''}"
    return f"entry point {ep.name!r}{of} ({ep.value})"


def _where(e: BaseException, module: str = "") -> str:
    """' (at FILE, line N)': the innermost frame in the plugin's own package, if any."""
    if isinstance(e, SyntaxError) and e.filename:
        return f" (at {e.filename}, line {e.lineno})"
    own = Path(__file__).resolve().parents[1]  # the autoorder package
    frames = [
        f for f in traceback.extract_tb(e.__traceback__)
        if "importlib" not in f.filename and not Path(f.filename).resolve().is_relative_to(own)
    ]
    top = module.split(":")[0].split(".")[0]
    if top:
        mine = [f for f in frames if top in Path(f.filename).parts or Path(f.filename).stem == top]
        frames = mine or frames
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def load_registry(
    base: Registry, paths: Iterable[Path] = (), disable: Iterable[str] = (), use_entry_points: bool = True
) -> Registry:
    """`base` (the built-ins), then plugin folders, then entry points; a duplicate name is an error."""
    disabled = set(disable)
    reg = Registry()
    for table, add in ((base.backbones, reg.register_backbone), (base.encodings, reg.register_encoding)):
        for name, entry in table.items():
            if name not in disabled:
                add(entry.obj, entry.source)
    for path in plugin_files(paths):
        module = load_module(path)
        for kind, obj in candidates_in_module(module):
            _register(reg, kind, obj, str(path), disabled)
    if use_entry_points:
        for group, kind in ((BACKBONE_GROUP, "backbone"), (ENCODING_GROUP, "encoding")):
            for ep in entry_points(group):
                if ep.name in disabled:
                    continue  # not even imported
                source = entry_point_source(ep)
                try:
                    obj = ep.load()
                except Exception as e:  # noqa: BLE001 - any error in user code is reported with its place
                    raise PluginError(
                        f"Plugin {source} fails to import: {type(e).__name__}: {e}{_where(e, ep.value)}"
                    ) from None
                _register(reg, kind, obj, source, disabled)
    return reg


def configure_backbone(reg: Registry, name: str, options: dict, cfg: Any) -> None:
    """Replace backbone `name` by its `configure(base_dir, **options)` (space.backbone_options)."""
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
    if configured is None:
        raise PluginError(
            f"Backbone {name!r} ({entry.source}): configure(base_dir, **options) must return the configured "
            "backbone. Got None instead."
        )
    configured = check_shape("backbone", configured, f"{entry.source}, configured by {cfg.source}")
    reg.backbones[name] = type(entry)(name, configured, entry.source)
