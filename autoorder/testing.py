"""Conformance checks for plugins, public for plugin authors' own test suites.

As scikit-learn ships `check_estimator`, autoorder ships `check_backbone` and
`check_encoding`: the same checks the loader and `autoorder plugins check` run.

```python
from autoorder.testing import check_backbone

def test_my_backbone():
    check_backbone(MyBackbone)          # raises PluginError naming every failed check
```

The cheap checks (attributes and signatures) also run when a plugin is loaded from a folder
or an entry point (`shape_checks=True`); the full checks build the plugin on a tiny input.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from autoorder.errors import PluginError, describe

RESERVED_FREEZE = ("none", "all")
ENCODING_FEATURES = 8
ENCODING_BUCKETS = 4


@dataclass
class Check:
    """One check: unpacks as (name, passed, detail); `warning` marks a pass with a caveat."""

    name: str
    passed: bool
    detail: str = ""
    warning: bool = False

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.passed, self.detail))

    @property
    def status(self) -> str:
        return "FAIL" if not self.passed else ("WARN" if self.warning else "PASS")

    def line(self) -> str:
        return f"{self.status} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class CheckReport:
    """What a conformance check found.

    Attributes:
        kind: "backbone" or "order encoding".
        plugin: how the plugin is named in messages (its name, or its class).
        source: where it came from (file, distribution, "builtin"), when known.
        checks: every check in the order it ran.
        instance: the plugin instance that was checked (None if it could not be made).
    """

    kind: str
    plugin: str
    source: str | None = None
    checks: list[Check] = field(default_factory=list)
    instance: Any = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.passed and c.warning]

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def where(self) -> str:
        return f" from {self.source}" if self.source else ""

    def title(self) -> str:
        return f"{self.kind} {self.plugin}{self.where()}"

    def lines(self) -> list[str]:
        return [c.line() for c in self.checks]

    def message(self) -> str:
        """One message naming the plugin, its source and every failed check."""
        fails = self.failures
        body = "\n".join(f"  - {c.name}: {c.detail}" if c.detail else f"  - {c.name}" for c in fails)
        return (
            f"The {self.kind} plugin {self.plugin}{self.where()} does not fit the {self.kind} shape "
            f"({len(fails)} failed check{'s' if len(fails) != 1 else ''}):\n{body}\n"
            "See plugins/README.md for the shape, or run `autoorder plugins check` on it."
        )

    def raise_if_failed(self) -> "CheckReport":
        if not self.passed:
            raise PluginError(self.message())
        return self


class _Stop(Exception):
    """A check failed in a way that makes the following ones meaningless."""


class _Runner:
    def __init__(self, report: CheckReport):
        self.report = report

    def ok(self, name: str, detail: str = "") -> None:
        self.report.checks.append(Check(name, True, detail))

    def fail(self, name: str, detail: str) -> None:
        self.report.checks.append(Check(name, False, detail))

    def warn(self, name: str, detail: str) -> None:
        self.report.checks.append(Check(name, True, detail, warning=True))

    def expect(self, name: str, cond: bool, detail_if_failed: str, detail_if_ok: str = "") -> bool:
        if cond:
            self.ok(name, detail_if_ok)
        else:
            self.fail(name, detail_if_failed)
        return cond


def _label(obj: Any, inst: Any = None) -> str:
    name = getattr(inst if inst is not None else obj, "name", None)
    cls = obj if inspect.isclass(obj) else type(obj)
    if isinstance(name, str) and name:
        return f"{name!r} (class {cls.__name__})"
    return f"class {cls.__name__}"


def _error(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _instantiate(run: _Runner, obj: Any) -> Any:
    if not inspect.isclass(obj):
        run.ok("instantiate", f"an instance of {type(obj).__name__}")
        return obj
    try:
        inst = obj()
    except Exception as e:  # noqa: BLE001 - any error in plugin code is a failed check
        run.fail("instantiate", f"{obj.__name__}() must work without arguments; it raised {_error(e)}")
        raise _Stop from None
    run.ok("instantiate", f"{obj.__name__}()")
    return inst


def _signature_check(run: _Runner, inst: Any, method: str, params: tuple[str, ...], sample: tuple) -> bool:
    """`method` exists, is callable, and accepts `params` positionally."""
    name = f"{method}({', '.join(params)})"
    fn = getattr(inst, method, None)
    if fn is None:
        run.fail(name, f"method {method!r} is missing; expected def {method}({', '.join(('self', *params))})")
        return False
    if not callable(fn):
        run.fail(name, f"{method!r} must be a method. Got {describe(fn)} instead")
        return False
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        run.ok(name, "signature not inspectable; accepted")
        return True
    try:
        sig.bind(*sample)
    except TypeError:
        run.fail(name, f"{method} must take the parameters ({', '.join(params)}). Got {method}{sig} instead")
        return False
    positional = [
        p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][: len(params)]
    if positional != list(params) and sorted(positional) == sorted(params):
        # Other names are fine (arguments are passed by position); the same names swapped are a bug.
        run.fail(name, f"{method} takes its parameters in the wrong order: expected ({', '.join(params)}). Got {method}{sig} instead")
        return False
    run.ok(name)
    return True


def _name_check(run: _Runner, inst: Any) -> None:
    name = getattr(inst, "name", None)
    run.expect(
        "name",
        isinstance(name, str) and bool(name.strip()),
        f"attribute 'name' must be a non-empty string. Got {describe(name)} instead",
        repr(name),
    )


# ----- backbones -----------------------------------------------------------------------------
def _backbone_shape(run: _Runner, inst: Any) -> None:
    _name_check(run, inst)
    size = getattr(inst, "default_image_size", None)
    run.expect(
        "default_image_size",
        isinstance(size, int) and not isinstance(size, bool) and size > 0,
        f"attribute 'default_image_size' must be a positive int. Got {describe(size)} instead",
        repr(size),
    )
    _signature_check(run, inst, "build", ("image_size", "weights"), (32, None))
    _signature_check(run, inst, "freeze_points", (), ())
    if hasattr(inst, "configure"):
        run.expect(
            "configure",
            callable(getattr(inst, "configure")),
            f"'configure' must be a method configure(base_dir, **options). Got {describe(inst.configure)} instead",
        )


def _backbone_build(run: _Runner, inst: Any, image_size: int) -> None:
    import keras
    import numpy as np

    fp_name = "freeze_points() returns a list of str"
    try:
        points = inst.freeze_points()
    except Exception as e:  # noqa: BLE001
        run.fail(fp_name, f"freeze_points() raised {_error(e)}")
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
        run.fail(build_name, f"build({image_size}, None) raised {_error(e)}")
        raise _Stop from None
    if not isinstance(model, keras.Model):
        run.fail(build_name, f"build must return a keras.Model. Got {type(model).__name__} instead")
        raise _Stop
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
            run.fail("forward pass on pixels 0..255", f"predicting 2 images raised {_error(e)}")

    if points is not None:
        _freeze_point_checks(run, model, points)
    _save_check(run, model)


def _freeze_point_checks(run: _Runner, model: Any, points: list[str]) -> None:
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
        from autoorder.graph import clean_cuts

        cuts = list(clean_cuts(model))
    except Exception as e:  # noqa: BLE001
        run.fail("freeze points are clean cuts", f"the graph of the built model cannot be analysed: {_error(e)}")
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


def _save_check(run: _Runner, model: Any) -> None:
    import keras

    name = "saves to .keras and reloads in safe mode"
    custom = _custom_layers(model)
    with tempfile.TemporaryDirectory(prefix="autoorder-check-") as tmp:
        path = os.path.join(tmp, "model.keras")
        try:
            model.save(path)
        except Exception as e:  # noqa: BLE001
            run.fail(name, f"model.save(...keras) raised {_error(e)}")
            return
        try:
            keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as e:  # noqa: BLE001
            text = str(e)
            if "safe_mode" in text or "Lambda" in text:
                run.fail(name, f"safe mode refuses it (a Lambda layer or other Python code): {_error(e)}")
            elif "Could not locate" in text or "register_keras_serializable" in text:
                run.warn(name, f"it reloads only with custom objects registered ({_error(e)})")
            else:
                run.fail(name, f"reloading raised {_error(e)}")
            return
    if custom:
        # Allowed: a plugin's own layers load wherever its module is importable.
        run.warn(name, f"saved models need these classes importable to load: {_some(custom, 5)}")
    else:
        run.ok(name)


# ----- encodings -----------------------------------------------------------------------------
def _encoding_shape(run: _Runner, inst: Any) -> None:
    _name_check(run, inst)
    uses = getattr(inst, "uses_order", None)
    run.expect(
        "uses_order",
        isinstance(uses, bool),
        f"attribute 'uses_order' must be True or False. Got {describe(uses)} instead",
        repr(uses),
    )
    _signature_check(
        run, inst, "build", ("features", "order_index", "num_buckets", "hp"), (None, None, ENCODING_BUCKETS, None)
    )


def _encoding_build(run: _Runner, inst: Any) -> None:
    import keras
    import keras_tuner as kt
    import numpy as np

    feats = keras.Input((ENCODING_FEATURES,), name="features")
    order = keras.Input((), dtype="int32", name="order_index")
    hp = kt.HyperParameters()
    name = f"build on features (None, {ENCODING_FEATURES}), order (None,), {ENCODING_BUCKETS} buckets"
    try:
        out = inst.build(feats, order, ENCODING_BUCKETS, hp)
    except Exception as e:  # noqa: BLE001
        run.fail(name, f"build raised {_error(e)}")
        raise _Stop from None
    shape = getattr(out, "shape", None)
    if not (isinstance(out, keras.KerasTensor) and shape is not None and len(shape) == 2):
        got = f"a tensor of shape {tuple(shape)}" if shape is not None else type(out).__name__
        run.fail(name, f"build must return a rank-2 Keras tensor (batch, C). Got {got} instead")
        raise _Stop
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
        run.fail("a model made of it trains one step", f"training raised {_error(e)}")
        return
    run.expect("a model made of it trains one step", np.isfinite(loss), f"the loss is {loss}", f"loss {loss:.4f}")


# ----- public --------------------------------------------------------------------------------
def _run_checks(
    kind: str,
    obj: Any,
    source: str | None,
    steps: list[Callable[[_Runner, Any], None]],
    raise_on_failure: bool,
) -> CheckReport:
    report = CheckReport(kind, _label(obj), source)
    run = _Runner(report)
    try:
        inst = _instantiate(run, obj)
        report.plugin = _label(obj, inst)
        report.instance = inst
        for i, step in enumerate(steps):
            step(run, inst)
            if i == 0 and not report.passed:
                break  # nothing to build from a plugin of the wrong shape
    except _Stop:
        pass
    if raise_on_failure:
        report.raise_if_failed()
    return report


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
    steps = [_backbone_shape] if shape_only else [_backbone_shape, lambda r, i: _backbone_build(r, i, image_size)]
    return _run_checks("backbone", obj, source, steps, raise_on_failure)


def check_encoding(
    obj: Any, *, raise_on_failure: bool = True, source: str | None = None, shape_only: bool = False
) -> CheckReport:
    """Check that `obj` (a class or an instance) is a working order encoding.

    Builds it on a tiny symbolic graph (features (None, 8), int order index (None,), 4 buckets,
    fresh `keras_tuner.HyperParameters()`) and trains one step of a model made of it.
    """
    steps = [_encoding_shape] if shape_only else [_encoding_shape, _encoding_build]
    return _run_checks("order encoding", obj, source, steps, raise_on_failure)


def check_plugin(kind: str, obj: Any, **kwargs: Any) -> CheckReport:
    """`check_backbone` or `check_encoding` by kind ("backbone" or "encoding")."""
    if kind == "backbone":
        return check_backbone(obj, **kwargs)
    kwargs.pop("image_size", None)
    return check_encoding(obj, **kwargs)
