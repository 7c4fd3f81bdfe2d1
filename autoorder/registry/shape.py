"""The cheap conformance checks of a plugin: attributes and signatures, nothing built.

These run when a plugin is loaded from a folder or an entry point, so a broken one is reported
at load time with its source and everything it lacks. The full checks, which build the plugin
on a tiny input (`autoorder.testing.check_backbone`), add to these on the model side
(`autoorder.model.conformance`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from autoorder.core.errors import PluginError, describe

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


class Stop(Exception):
    """A check failed in a way that makes the following ones meaningless."""


class Runner:
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


def label(obj: Any, inst: Any = None) -> str:
    name = getattr(inst if inst is not None else obj, "name", None)
    cls = obj if inspect.isclass(obj) else type(obj)
    if isinstance(name, str) and name:
        return f"{name!r} (class {cls.__name__})"
    return f"class {cls.__name__}"


def error_text(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def instantiate(run: Runner, obj: Any) -> Any:
    if not inspect.isclass(obj):
        run.ok("instantiate", f"an instance of {type(obj).__name__}")
        return obj
    try:
        inst = obj()
    except Exception as e:  # noqa: BLE001 - any error in plugin code is a failed check
        run.fail("instantiate", f"{obj.__name__}() must work without arguments; it raised {error_text(e)}")
        raise Stop from None
    run.ok("instantiate", f"{obj.__name__}()")
    return inst


def signature_check(run: Runner, inst: Any, method: str, params: tuple[str, ...], sample: tuple) -> bool:
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


def name_check(run: Runner, inst: Any) -> None:
    name = getattr(inst, "name", None)
    run.expect(
        "name",
        isinstance(name, str) and bool(name.strip()),
        f"attribute 'name' must be a non-empty string. Got {describe(name)} instead",
        repr(name),
    )


# ----- backbones -----------------------------------------------------------------------------
def backbone_shape(run: Runner, inst: Any) -> None:
    name_check(run, inst)
    size = getattr(inst, "default_image_size", None)
    run.expect(
        "default_image_size",
        isinstance(size, int) and not isinstance(size, bool) and size > 0,
        f"attribute 'default_image_size' must be a positive int. Got {describe(size)} instead",
        repr(size),
    )
    signature_check(run, inst, "build", ("image_size", "weights"), (32, None))
    signature_check(run, inst, "freeze_points", (), ())
    if hasattr(inst, "configure"):
        run.expect(
            "configure",
            callable(getattr(inst, "configure")),
            f"'configure' must be a method configure(base_dir, **options). Got {describe(inst.configure)} instead",
        )


# ----- encodings -----------------------------------------------------------------------------
def encoding_shape(run: Runner, inst: Any) -> None:
    name_check(run, inst)
    uses = getattr(inst, "uses_order", None)
    run.expect(
        "uses_order",
        isinstance(uses, bool),
        f"attribute 'uses_order' must be True or False. Got {describe(uses)} instead",
        repr(uses),
    )
    signature_check(
        run, inst, "build", ("features", "order_index", "num_buckets", "hp"), (None, None, ENCODING_BUCKETS, None)
    )


# ----- running ------------------------------------------------------------------------------
def run_checks(
    kind: str,
    obj: Any,
    source: str | None,
    steps: list[Callable[[Runner, Any], None]],
    raise_on_failure: bool,
) -> CheckReport:
    report = CheckReport(kind, label(obj), source)
    run = Runner(report)
    try:
        inst = instantiate(run, obj)
        report.plugin = label(obj, inst)
        report.instance = inst
        for i, step in enumerate(steps):
            step(run, inst)
            if i == 0 and not report.passed:
                break  # nothing to build from a plugin of the wrong shape
    except Stop:
        pass
    if raise_on_failure:
        report.raise_if_failed()
    return report




def check_shape(kind: str, obj: Any, source: str | None = None) -> CheckReport:
    """Only the cheap checks of a "backbone" or an "encoding"; raises PluginError on failure."""
    if kind == "backbone":
        return run_checks("backbone", obj, source, [backbone_shape], raise_on_failure=True)
    return run_checks("order encoding", obj, source, [encoding_shape], raise_on_failure=True)
