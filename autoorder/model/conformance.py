"""Conformance checks for plugins: the full checks, and what `plugins list` / `plugins check` report.

As scikit-learn ships `check_estimator`, autoorder ships `check_backbone` and
`check_encoding` (public through `autoorder.testing`): the same checks the loader and
`autoorder plugins check` run.

The cheap checks (attributes and signatures, `autoorder.registry.shape`) also run when a plugin
is loaded from a folder or an entry point; the full checks here build the plugin on a tiny
input. Also here: what `autoorder plugins list` and `plugins check` report.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner as kt
import numpy as np

from autoorder.core.errors import AutoOrderError, PluginError, describe, did_you_mean
from autoorder.model.graph import clean_cuts
from autoorder.registry.discovery import candidates_in_module, load_module
from autoorder.registry.shape import (
    ENCODING_BUCKETS,
    ENCODING_FEATURES,
    RESERVED_FREEZE,
    Check,
    CheckReport,
    Runner,
    Stop,
    backbone_shape,
    encoding_shape,
    error_text,
    run_checks,
)
from autoorder.registry.table import Registry

__all__ = ["Check", "CheckReport", "check_backbone", "check_encoding", "check_plugin"]


# ----- backbones -----------------------------------------------------------------------------
def _backbone_build(run: Runner, inst: Any, image_size: int) -> None:
    fp_name = "freeze_points() returns a list of str"
    try:
        points = inst.freeze_points()
    except Exception as e:  # noqa: BLE001
        run.fail(fp_name, f"freeze_points() raised {error_text(e)}")
        points = None
    if points is not None:
        good = isinstance(points, (list, tuple)) and all(isinstance(p, str) and p for p in points)
        if not run.expect(fp_name, good, f"got {describe(points)}", f"{list(points) if good else ''}"):
            points = None
        else:
            points = list(points)
            reserved = [p for p in points if p in RESERVED_FREEZE]
            dupes = sorted({p for p in points if points.count(p) > 1})
            run.expect(
                "freeze_points() are distinct and not 'none' or 'all'",
                not reserved and not dupes,
                f"{'reserved names ' + str(reserved) if reserved else ''}{' ' if reserved and dupes else ''}"
                f"{'duplicates ' + str(dupes) if dupes else ''} ('none' and 'all' always exist; do not list them)",
            )

    build_name = f"build({image_size}, None) returns a keras.Model"
    try:
        model = inst.build(image_size, None)
    except Exception as e:  # noqa: BLE001
        run.fail(build_name, f"build({image_size}, None) raised {error_text(e)}")
        raise Stop from None
    if not isinstance(model, keras.Model):
        run.fail(build_name, f"build must return a keras.Model. Got {type(model).__name__} instead")
        raise Stop
    run.ok(build_name, f"{model.count_params():,} parameters")

    inputs = list(model.inputs)
    want = (None, image_size, image_size, 3)
    shape = tuple(inputs[0].shape) if len(inputs) == 1 else None
    run.expect(
        "one input of shape (None, s, s, 3)",
        shape == want,
        f"expected one input of shape {want}. Got {[tuple(i.shape) for i in inputs]} instead",
        str(want),
    )
    outputs = list(model.outputs)
    rank_ok = len(outputs) == 1 and len(outputs[0].shape) in (2, 4)
    run.expect(
        "output of rank 2 or 4",
        rank_ok,
        "expected one output, a feature vector (None, C) or a feature map (None, H, W, C). "
        f"Got {[tuple(o.shape) for o in outputs]} instead",
        str(tuple(outputs[0].shape)) if outputs else "",
    )
    if shape == want and rank_ok:
        try:
            rng = np.random.default_rng(0)
            x = rng.uniform(0, 255, size=(2, image_size, image_size, 3)).astype("float32")
            y = np.asarray(model.predict_on_batch(x))
            run.expect(
                "forward pass on pixels 0..255",
                bool(np.all(np.isfinite(y))),
                "the output holds NaN or inf for random pixels in [0, 255]",
                f"output {y.shape}",
            )
        except Exception as e:  # noqa: BLE001
            run.fail("forward pass on pixels 0..255", f"predicting 2 images raised {error_text(e)}")

    if points is not None:
        _freeze_point_checks(run, model, points)
    _save_check(run, model)


def _freeze_point_checks(run: Runner, model: Any, points: list[str]) -> None:
    names = {layer.name for layer in model.layers}
    missing = [p for p in points if p not in names]
    run.expect(
        "freeze points are layers of the model",
        not missing,
        f"{missing} {'is' if len(missing) == 1 else 'are'} not the name of a layer of the built model "
        f"(top-level layers: {_some([l.name for l in model.layers])})",
        f"{len(points)} point(s)",
    )
    try:
        cuts = list(clean_cuts(model))
    except Exception as e:  # noqa: BLE001
        run.fail("freeze points are clean cuts", f"the graph of the built model cannot be analysed: {error_text(e)}")
        return
    present = [p for p in points if p in names]
    crossed = [p for p in present if p not in cuts]
    run.expect(
        "freeze points are clean cuts",
        not crossed,
        f"{crossed} {'is' if len(crossed) == 1 else 'are'} crossed by a skip connection or branch "
        f"(clean cuts of this model: {_some(cuts)})",
    )
    ranked = [cuts.index(p) for p in present if p in cuts]
    run.expect(
        "freeze points are ordered shallow to deep",
        ranked == sorted(ranked),
        f"expected {sorted((p for p in present if p in cuts), key=cuts.index)}. Got {[p for p in present if p in cuts]} instead",
    )


def _some(items: list[str], n: int = 12) -> str:
    items = list(items)
    return str(items) if len(items) <= n else str(items[:n])[:-1] + f", ... ({len(items)} in all)]"


def _custom_layers(model: Any) -> list[str]:
    """Classes in the model's graph that stock Keras does not provide."""
    found: set[str] = set()
    stack = [model]
    while stack:
        m = stack.pop()
        for op in getattr(m, "operations", getattr(m, "layers", [])):
            mod = type(op).__module__ or ""
            if not (mod == "keras" or mod.startswith("keras.")):
                found.add(f"{mod}.{type(op).__qualname__}")
            if hasattr(op, "operations") or hasattr(op, "layers"):
                stack.append(op)
    return sorted(found)


def _save_check(run: Runner, model: Any) -> None:
    name = "saves to .keras and reloads in safe mode"
    custom = _custom_layers(model)
    with tempfile.TemporaryDirectory(prefix="autoorder-check-") as tmp:
        path = os.path.join(tmp, "model.keras")
        try:
            model.save(path)
        except Exception as e:  # noqa: BLE001
            run.fail(name, f"model.save(...keras) raised {error_text(e)}")
            return
        try:
            keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as e:  # noqa: BLE001
            text = str(e)
            if "safe_mode" in text or "Lambda" in text:
                run.fail(name, f"safe mode refuses it (a Lambda layer or other Python code): {error_text(e)}")
            elif "Could not locate" in text or "register_keras_serializable" in text:
                run.warn(name, f"it reloads only with custom objects registered ({error_text(e)})")
            else:
                run.fail(name, f"reloading raised {error_text(e)}")
            return
    if custom:
        # Allowed: a plugin's own layers load wherever its module is importable.
        run.warn(name, f"saved models need these classes importable to load: {_some(custom, 5)}")
    else:
        run.ok(name)


# ----- encodings -----------------------------------------------------------------------------
def _encoding_build(run: Runner, inst: Any) -> None:
    feats = keras.Input((ENCODING_FEATURES,), name="features")
    order = keras.Input((), dtype="int32", name="order_index")
    hp = kt.HyperParameters()
    name = f"build on features (None, {ENCODING_FEATURES}), order (None,), {ENCODING_BUCKETS} buckets"
    try:
        out = inst.build(feats, order, ENCODING_BUCKETS, hp)
    except Exception as e:  # noqa: BLE001
        run.fail(name, f"build raised {error_text(e)}")
        raise Stop from None
    shape = getattr(out, "shape", None)
    if not (isinstance(out, keras.KerasTensor) and shape is not None and len(shape) == 2):
        got = f"a tensor of shape {tuple(shape)}" if shape is not None else type(out).__name__
        run.fail(name, f"build must return a rank-2 Keras tensor (batch, C). Got {got} instead")
        raise Stop
    run.ok(name, f"output {tuple(shape)}" + (f"; hyperparameters {sorted(hp.values)}" if hp.values else ""))
    try:
        probs = keras.layers.Dense(2, activation="softmax", name="check_probs")(out)
        model = keras.Model([feats, order], probs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(4, ENCODING_FEATURES)).astype("float32")
        o = np.array([0, 1, 2, 3], dtype="int32")
        y = np.array([0, 1, 0, 1], dtype="int32")
        loss = float(np.asarray(model.train_on_batch([x, o], y)).reshape(-1)[0])
    except Exception as e:  # noqa: BLE001
        run.fail("a model made of it trains one step", f"training raised {error_text(e)}")
        return
    run.expect("a model made of it trains one step", np.isfinite(loss), f"the loss is {loss}", f"loss {loss:.4f}")


# ----- public --------------------------------------------------------------------------------
def check_backbone(
    obj: Any,
    image_size: int = 32,
    *,
    raise_on_failure: bool = True,
    source: str | None = None,
    shape_only: bool = False,
) -> CheckReport:
    """Check that `obj` (a class or an instance) is a working backbone.

    Args:
        obj: the plugin class (instantiated without arguments) or instance.
        image_size: side of the tiny input it is built on.
        raise_on_failure: raise `PluginError` naming every failed check.
        source: where the plugin came from, for messages.
        shape_only: only the cheap checks (attributes, signatures), no build.

    Returns:
        The `CheckReport`: checks (name, passed, detail), in order.
    """
    steps = [backbone_shape] if shape_only else [backbone_shape, lambda r, i: _backbone_build(r, i, image_size)]
    return run_checks("backbone", obj, source, steps, raise_on_failure)


def check_encoding(
    obj: Any, *, raise_on_failure: bool = True, source: str | None = None, shape_only: bool = False
) -> CheckReport:
    """Check that `obj` (a class or an instance) is a working order encoding.

    Builds it on a tiny symbolic graph (features (None, 8), int order index (None,), 4 buckets,
    fresh `keras_tuner.HyperParameters()`) and trains one step of a model made of it.
    """
    steps = [encoding_shape] if shape_only else [encoding_shape, _encoding_build]
    return run_checks("order encoding", obj, source, steps, raise_on_failure)


def check_plugin(kind: str, obj: Any, **kwargs: Any) -> CheckReport:
    """`check_backbone` or `check_encoding` by kind ("backbone" or "encoding")."""
    if kind == "backbone":
        return check_backbone(obj, **kwargs)
    kwargs.pop("image_size", None)
    return check_encoding(obj, **kwargs)


# ----- what `autoorder plugins list` and `plugins check` report ------------------------------
def _build_size(default: Any, image_size: int | None) -> int:
    if image_size:
        return image_size
    return default if isinstance(default, int) and 0 < default <= 64 else 32


def _count_params(obj: Any, size: int) -> int:
    model = obj.build(size, None)
    return int(model.count_params())


def _reason(e: BaseException) -> str:
    return str(e) if isinstance(e, AutoOrderError) else f"{type(e).__name__}: {e}"


def describe_plugins(reg: Registry, image_size: int | None = None) -> list[dict]:
    """One row per backbone and encoding: kind, name, source, default_image_size, freeze_points, params.

    Parameters: the backbone's own `params` attribute when it declares one (the built-in
    applications do, so listing them builds nothing), else counted on a build with weights None
    at `image_size` (default: 32 px, or the backbone's own size when it is that small). What
    cannot be built says why in `error`.
    """
    rows: list[dict] = []
    for name in reg.list_backbones():
        entry = reg.backbones[name]
        obj = entry.obj
        row = {
            "kind": "backbone",
            "name": name,
            "source": entry.source,
            "default_image_size": getattr(obj, "default_image_size", None),
            "freeze_points": None,
            "params": None,
            "error": None,
        }
        errors = []
        try:
            row["freeze_points"] = list(obj.freeze_points())
        except Exception as e:  # noqa: BLE001 - a listing reports what it cannot read
            errors.append(_reason(e))
        declared = getattr(obj, "params", None)
        if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 0:
            row["params"] = declared
            row["error"] = "; ".join(dict.fromkeys(errors)) or None
            rows.append(row)
            continue
        size = _build_size(row["default_image_size"], image_size)
        try:
            row["params"] = _count_params(obj, size)
        except Exception as e:  # noqa: BLE001
            default = row["default_image_size"]
            retried = False
            if not image_size and isinstance(default, int) and default != size:
                try:
                    row["params"] = _count_params(obj, default)
                    retried = True
                except Exception:  # noqa: BLE001
                    pass
            if not retried:
                errors.append(_reason(e))
        # The same complaint from freeze_points() and build() (e.g. "not configured") reads once.
        row["error"] = "; ".join(dict.fromkeys(errors)) or None
        rows.append(row)
    for name in reg.list_encodings():
        entry = reg.encodings[name]
        rows.append(
            {
                "kind": "encoding",
                "name": name,
                "source": entry.source,
                "default_image_size": None,
                "freeze_points": None,
                "params": None,
                "uses_order": getattr(entry.obj, "uses_order", None),
                "error": None,
            }
        )
    return rows


def load_file_plugins(path: Path) -> list[tuple[str, Any]]:
    """(kind, object) pairs of one plugin file, loaded by path (nothing else is imported)."""
    path = Path(path)
    if not path.is_file():
        raise PluginError(f"Plugin file {str(path)!r} does not exist. Expected a .py file or a registered name.")
    found = candidates_in_module(load_module(path))
    if not found:
        raise PluginError(
            f"Plugin file {str(path)} defines no backbone or order encoding. A backbone is a class with name, "
            "default_image_size, build(image_size, weights) and freeze_points(); an order encoding has name, "
            "uses_order and build(features, order_index, num_buckets, hp). See plugins/README.md."
        )
    return found


def check_target(target: str, registry: Callable[[], Registry], image_size: int = 32) -> list[Any]:
    """Full conformance reports for a registered name or a .py file (loaded by path, alone)."""
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        reports = []
        for kind, obj in load_file_plugins(path):
            if kind == "unknown":
                cls = obj if inspect.isclass(obj) else type(obj)
                rep = CheckReport("plugin", f"{getattr(obj, 'name', None)!r} (class {cls.__name__})", str(path))
                rep.checks.append(
                    Check("kind", False, "has name and build, but neither freeze_points/default_image_size "
                          "(a backbone) nor uses_order (an order encoding)")
                )
                reports.append(rep)
                continue
            reports.append(check_plugin(kind, obj, image_size=image_size, raise_on_failure=False, source=str(path)))
        return reports
    reg = registry()
    reports = []
    if target in reg.backbones:
        e = reg.backbones[target]
        reports.append(check_plugin("backbone", e.obj, image_size=image_size, raise_on_failure=False, source=e.source))
    if target in reg.encodings:
        e = reg.encodings[target]
        reports.append(check_plugin("encoding", e.obj, raise_on_failure=False, source=e.source))
    if not reports:
        known = [*reg.backbones, *reg.encodings]
        raise PluginError(
            f"No backbone or order encoding is named {target!r}, and it is not a .py file. "
            f"Expected one of {sorted(known)}.{did_you_mean(target, known)}"
        )
    return reports
