"""YAML config: read with yaml.safe_load, validated into frozen dataclasses, every default filled.

Each field carries its own check (`spec`), so validation, `--set` and the docs of defaults
share one table. Messages follow one template: the key, what is expected, what was received.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from autoorder.core.errors import ConfigError, describe, did_you_mean
from autoorder.core.fileio import read_regular
from autoorder.core.safeyaml import load_yaml

# Hyperparameter names shared by the search space, results, reports and tests.
HP_BACKBONE = "backbone"
HP_FREEZE = "freeze"
HP_HEAD_DEPTH = "head_depth"
HP_HEAD_WIDTH = "head_width"
HP_DROPOUT = "dropout"
HP_ENCODING = "order_encoding"
HP_LEARNING_RATE = "learning_rate"
HP_CLASS_WEIGHT = "class_weight"

FREEZE_NONE = "none"
FREEZE_ALL = "all"
FREEZE_LAST = "last"  # each backbone's deepest freeze point: fine-tune its last stage and the head
# The default space: ImageNet-pretrained applications, frozen or fine-tuned above their last cut.
DEFAULT_BACKBONES = ["mobilenet_v2", "efficientnet_b0", "mobilenet_v3_small"]
DEFAULT_FREEZE = [FREEZE_ALL, FREEZE_LAST]
DEFAULT_FREEZE_RANDOM = [FREEZE_NONE]  # weights: null: frozen random features carry nothing
ENCODING_NONE = "none"
ALGORITHMS = ("random", "bayesian", "hyperband")
DISTRIBUTIONS = ("mirrored",)
SCHEDULES = ("cosine", "constant")
TRAINERS = ("lean", "keras")
OBJECTIVES = ("val_accuracy", "val_balanced_accuracy")  # what a search maximises on the validation split
CLASS_WEIGHTS = ("none", "balanced")
# How a search runs, not what it finds: changing them does not block a resume. The duplicate
# switches only decide whether data is accepted; accepted data is pinned by its fingerprint.
OPERATIONAL_KEYS = (
    "cache", "tuner.distribution", "tuner.trainer", "tuner.lease_seconds", "tuner.chief_timeout", "data.on_duplicate", "data.allow_shared_images",
)
# How far a search goes: raising them on an existing run keeps its trials and runs only new ones.
GROWTH_KEYS = ("tuner.max_trials", "tuner.time_budget")
# Seeds reach scikit-learn (random_state < 2**32), numpy's legacy seeding (the same) and
# TensorFlow (int64), plus small offsets (split seed + 1, benchmark seeds seed + i): int32 fits all.
MAX_SEED = 2**31 - 1
MAX_CONFIG_BYTES = 2**20  # a config is a few KB; anything near this is not a config
DEFAULT_PLUGIN_PATHS = ("plugins",)


class _Invalid(Exception):
    """Raised by a spec: carries what was expected."""

    def __init__(self, expected: str, hint: str = ""):
        super().__init__(expected)
        self.expected = expected
        self.hint = hint


Spec = Callable[[Any], Any]


def _int(lo: int | None = None, hi: int | None = None) -> Spec:
    expected = "an int" + (f" >= {lo}" if lo is not None and hi is None else "")
    if lo is not None and hi is not None:
        expected = f"an int in [{lo}, {hi}]"

    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Invalid(expected)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Invalid(expected)
        return v

    check.expected = expected  # type: ignore[attr-defined]
    return check


def _float(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Spec:
    lo_txt = ("(" if lo_open else "[") + str(lo) if lo is not None else "(-inf"
    hi_txt = str(hi) + "]" if hi is not None else "inf)"
    expected = f"a number in {lo_txt}, {hi_txt}"

    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _Invalid(expected)
        v = float(v)
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise _Invalid(expected)
        if hi is not None and v > hi:
            raise _Invalid(expected)
        return v

    check.expected = expected  # type: ignore[attr-defined]
    return check


def _str(choices: Iterable[str] | None = None) -> Spec:
    opts = tuple(choices) if choices else None
    expected = f"one of {list(opts)}" if opts else "a non-empty string"

    def check(v: Any) -> str:
        if not isinstance(v, str) or not v.strip():
            raise _Invalid(expected)
        if opts and v not in opts:
            raise _Invalid(expected, did_you_mean(v, opts))
        return v

    check.expected = expected  # type: ignore[attr-defined]
    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Invalid("true or false")
    return v


def _optional(spec: Spec) -> Spec:
    def check(v: Any) -> Any:
        if v is None:
            return None
        try:
            return spec(v)
        except _Invalid as e:
            raise _Invalid(f"null or {e.expected}", e.hint) from None

    check.expected = f"null or {getattr(spec, 'expected', 'a value')}"  # type: ignore[attr-defined]
    return check


def _choices(spec: Spec) -> Spec:
    """A single value (fixed) or a non-empty list of distinct values (searched) -> tuple."""
    inner = getattr(spec, "expected", "a value")

    def check(v: Any) -> tuple:
        items = v if isinstance(v, list) else [v]
        if not items:
            raise _Invalid(f"{inner}, or a non-empty list of them")
        out = []
        for item in items:
            try:
                out.append(spec(item))
            except _Invalid as e:
                raise _Invalid(f"{e.expected}, or a non-empty list of them", e.hint) from None
        if len(set(map(repr, out))) != len(out):
            raise _Invalid("a list without duplicates")
        return tuple(out)

    return check


def _str_list(v: Any) -> tuple:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(i, str) and i for i in v):
        raise _Invalid("a list of non-empty strings")
    return tuple(v)


def _weights(v: Any) -> str | None:
    if v is None or v == "imagenet":
        return v
    if isinstance(v, str) and v.strip():
        return v
    raise _Invalid("'imagenet', null, or a path to a weights file")


def _columns(v: Any) -> dict:
    allowed = {"image", "label", "order", "group"}
    if not isinstance(v, dict):
        raise _Invalid("a mapping with keys image, label, order, group")
    for k, val in v.items():
        if k not in allowed:
            raise _Invalid(f"keys among {sorted(allowed)} (got key {k!r}){did_you_mean(k, allowed)}")
        if k in ("image", "label") and (not isinstance(val, str) or not val):
            raise _Invalid(f"a column name (a string) for {k!r}")
        if k in ("order", "group") and val is not None and (not isinstance(val, str) or not val):
            raise _Invalid(f"a column name or null for {k!r}")
    merged = {"image": "image", "label": "label", "order": "order", "group": "object_id"}
    merged.update(v)
    names = [n for n in merged.values() if n]
    if len(set(names)) != len(names):
        raise _Invalid("distinct column names for image, label, order and group")
    return merged


def _options(v: Any) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(o, dict) for k, o in v.items()):
        raise _Invalid("a mapping of backbone name -> mapping of options (e.g. keras_file: {path: model.keras})")
    return v


def _f(default: Any, spec: Spec, doc: str = "") -> Any:
    kw = {"default_factory": (lambda d=default: copy.deepcopy(d))} if isinstance(default, (dict, list)) else {"default": default}
    return field(metadata={"spec": spec, "doc": doc}, **kw)


@dataclass(frozen=True)
class SplitConfig:
    val: float = _f(0.15, _float(0.0, 0.5, lo_open=True), "fraction of objects for validation")
    test: float = _f(0.15, _float(0.0, 0.5, lo_open=True), "fraction of objects for the held-out test")
    seed: int = _f(0, _int(0, MAX_SEED), "seed of the grouped, stratified split")


@dataclass(frozen=True)
class DataConfig:
    manifest: str = _f(None, _str(), "CSV manifest; image paths inside are relative to its folder")
    columns: dict = _f({}, _columns, "column names: image, label, order (optional), group (optional)")
    image_size: int = _f(96, _int(8, 1024), "side in pixels images are resized to")
    split: SplitConfig = _f(None, None)
    on_bad_image: str = _f("error", _str(["error", "skip"]), "stop with the list of bad rows, or skip them")
    max_image_pixels: int = _f(50_000_000, _int(1), "larger images are refused from the header (decompression bombs)")
    on_duplicate: str = _f(
        "error", _str(["error", "warn"]), "the same image twice in one object, or under two labels: stop, or warn and go on"
    )
    allow_shared_images: bool = _f(False, _bool, "the same image under two object ids (it may land in train and test)")


@dataclass(frozen=True)
class SpaceConfig:
    backbones: tuple = _f(DEFAULT_BACKBONES, _choices(_str()), "backbone names")
    weights: Any = _f("imagenet", _weights, "imagenet | null | path")
    freeze: Any = _f(None, _optional(_choices(_str())), "none, all, last, or backbone cut point names (default: all and last; none with weights: null)")
    head_depth: tuple = _f([0, 1, 2], _choices(_int(0, 3)), "dense layers in the head")
    head_width: tuple = _f([128], _choices(_int(1, 8192)), "units per dense layer")
    dropout: tuple = _f([0.0, 0.3], _choices(_float(0.0, 0.9)), "dropout before each dense layer")
    order_encodings: tuple = _f(["none", "onehot", "embedding", "film"], _choices(_str()), "order encodings")
    learning_rate: tuple = _f([1e-3, 3e-4], _choices(_float(0.0, 1.0, lo_open=True)), "Adam learning rate")
    batch_size: int = _f(32, _int(1, 4096), "batch size")
    class_weight: tuple = _f(["none"], _choices(_str(CLASS_WEIGHTS)), "none, or balanced: each class weighs in inversely to its frequency in train")
    backbone_options: dict = _f({}, _options, "per-backbone options, passed to the plugin's configure(**options)")


@dataclass(frozen=True)
class TunerConfig:
    algorithm: str = _f("random", _str(ALGORITHMS), "random | bayesian | hyperband")
    objective: str = _f("val_accuracy", _str(OBJECTIVES), "what trials are ranked by: val_accuracy, or val_balanced_accuracy (mean recall over classes)")
    max_trials: int = _f(10, _int(1), "trials to run (hyperband: max epochs per trial is `epochs`)")
    epochs: int = _f(20, _int(1), "epochs per trial (early stopping may end a trial sooner)")
    seed: int = _f(0, _int(0, MAX_SEED), "seed of the oracle and of model initialisation")
    patience: int = _f(5, _int(0), "early stopping patience on val_accuracy (0: off)")
    schedule: str = _f("cosine", _str(SCHEDULES), "learning rate: cosine (warmup, then cosine decay) or constant")
    warmup_epochs: float = _f(1.0, _float(0.0, 100.0), "cosine: epochs of linear warmup to the learning rate")
    clip_norm: Any = _f(1.0, _optional(_float(0.0, lo_open=True)), "clip gradients to this global norm (null: off)")
    deterministic: bool = _f(True, _bool, "deterministic TensorFlow ops: the same scores twice on one machine")
    fine_tune_epochs: int = _f(0, _int(0), "two-stage: epochs of fine-tuning above the cut after the head")
    fine_tune_lr_factor: float = _f(0.1, _float(0.0, 1.0, lo_open=True), "two-stage: learning-rate factor")
    time_budget: Any = _f(None, _optional(_float(0.0, lo_open=True)), "seconds for the whole search")
    trial_timeout: Any = _f(None, _optional(_float(0.0, lo_open=True)), "seconds per trial")
    distribution: Any = _f(None, _optional(_str(DISTRIBUTIONS)), "null | mirrored: one trial over every visible GPU")
    lease_seconds: float = _f(120.0, _float(1.0), "distributed: a worker silent this long loses its trial to another")
    chief_timeout: float = _f(300.0, _float(1.0), "distributed: a worker exits when the chief does not answer this long")
    checkpoint_seconds: float = _f(10.0, _float(0.0), "save a running trial's state at most this often (0: every epoch)")
    trainer: str = _f("lean", _str(TRAINERS), "lean: autoorder's training loop (a fraction of the fixed cost per model); keras: Model.fit")


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = _f(True, _bool, "reuse frozen-backbone activations across trials")
    memory_mb: int = _f(2048, _int(0), "features above this budget spill to disk")
    dir: Any = _f(None, _optional(_str()), "spill folder (default: RUN_DIR/cache)")
    dtype: str = _f("float32", _str(("float32", "float16")), "how cached features are stored (float16: half the memory and disk)")


@dataclass(frozen=True)
class PluginsConfig:
    paths: tuple = _f(["plugins"], _str_list, "folders of plugin files, relative to the config")
    disable: tuple = _f([], _str_list, "plugin names not to load")
    entry_points: bool = _f(True, _bool, "load plugins from installed packages' entry points")


@dataclass(frozen=True)
class Config:
    data: DataConfig
    space: SpaceConfig = _f(None, None)
    tuner: TunerConfig = _f(None, None)
    cache: CacheConfig = _f(None, None)
    plugins: PluginsConfig = _f(None, None)
    source: str = field(default="<dict>", compare=False, metadata={"internal": True})
    base_dir: str = field(default=".", compare=False, metadata={"internal": True})

    def manifest_path(self) -> Path:
        return resolve_path(self.base_dir, self.data.manifest)

    def plugin_paths(self) -> list[Path]:
        return [resolve_path(self.base_dir, p) for p in self.plugins.paths]

    def warnings(self) -> list[str]:
        """What is valid but probably not meant: plugins.paths folders that do not exist (the default
        `plugins` folder may be absent)."""
        if self.plugins.paths == DEFAULT_PLUGIN_PATHS:
            return []
        return [
            f"plugins.paths in {self.source} names the folder {str(p)!r}, which does not exist; no plugins are loaded from it"
            for p in self.plugin_paths()
            if not p.exists()
        ]

    def weights_value(self) -> str | None:
        w = self.space.weights
        if w is None or w == "imagenet":
            return w
        return str(resolve_path(self.base_dir, w))

    def to_dict(self) -> dict:
        return to_dict(self)

    @property
    def uses_order(self) -> bool:
        return any(e != ENCODING_NONE for e in self.space.order_encodings)


_SECTIONS = {"data": DataConfig, "space": SpaceConfig, "tuner": TunerConfig, "cache": CacheConfig, "plugins": PluginsConfig}
_NESTED = {(DataConfig, "split"): SplitConfig}


def resolve_path(base: str | Path, p: str | Path) -> Path:
    p = Path(p).expanduser()
    return p if p.is_absolute() else (Path(base) / p)


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"The {prefix.rstrip('.')!r} key in {source} must be a mapping. Got {describe(raw)} instead."
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in raw:
        if key not in fields:
            raise ConfigError(
                f"Unknown key {_key_repr(prefix, key)} in {source}. Expected one of "
                f"{sorted(fields)}.{did_you_mean(key, fields)}"
            )
    values = {}
    for name, f in fields.items():
        key = prefix + name
        nested = _NESTED.get((cls, name))
        if nested is not None:
            values[name] = _build(nested, raw.get(name), key + ".", source)
            continue
        spec = f.metadata["spec"]
        if name in raw:
            value = raw[name]
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
        else:
            value = None
        if value is None and name == "manifest":
            raise ConfigError(f"The {key!r} key in {source} is required: the path of a CSV manifest.")
        try:
            values[name] = spec(value)
        except _Invalid as e:
            raise ConfigError(
                f"The {key!r} key in {source} must be {e.expected}. Got {describe(value)} instead.{e.hint}"
            ) from None
    return cls(**values)


def from_dict(raw: Any, source: str = "<dict>", base_dir: str | Path = ".") -> Config:
    """Validate a raw mapping into a Config."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must hold a YAML mapping at the top level. Got {describe(raw)} instead.")
    for key in raw:
        if key not in _SECTIONS:
            raise ConfigError(
                f"Unknown key {_key_repr('', key)} in {source}. Expected one of {sorted(_SECTIONS)}."
                f"{did_you_mean(key, _SECTIONS)}"
            )
    if "data" not in raw:
        raise ConfigError(f"The 'data' key in {source} is required (with at least data.manifest).")
    sections = {name: _build(cls, raw.get(name), name + ".", source) for name, cls in _SECTIONS.items()}
    space = sections["space"]
    if space.freeze is None:  # the default depends on the weights
        default = DEFAULT_FREEZE_RANDOM if space.weights is None else DEFAULT_FREEZE
        sections["space"] = dataclasses.replace(space, freeze=tuple(default))
    cfg = Config(**sections, source=source, base_dir=str(base_dir))
    _check_cross(cfg)
    return cfg


def _check_cross(cfg: Config) -> None:
    if cfg.data.split.val + cfg.data.split.test >= 0.9:
        raise ConfigError(
            f"The 'data.split.val' and 'data.split.test' keys in {cfg.source} must add up to less than 0.9. "
            f"Got {cfg.data.split.val} + {cfg.data.split.test} instead."
        )
    if cfg.uses_order and not cfg.data.columns.get("order"):
        used = [e for e in cfg.space.order_encodings if e != ENCODING_NONE]
        raise ConfigError(
            f"The 'space.order_encodings' key in {cfg.source} asks for order-aware encodings {used}, "
            f"but data.columns.order is null. Expected order_encodings: none without an order column."
        )


def _key_repr(prefix: str, key: Any) -> str:
    return repr(prefix + key) if isinstance(key, str) and len(key) <= 80 else prefix + describe(key)


def read_yaml(path: str | Path) -> Any:
    """A config file: a regular file (a FIFO would block) of UTF-8 YAML, read with bounded safe_load."""
    path = Path(path)
    data = read_regular(path, "Config file", "a YAML file", ConfigError, limit=MAX_CONFIG_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"Config file {str(path)!r} is not UTF-8 text (byte {e.start}).") from None
    return load_yaml(text, f"Config file {str(path)!r}")


def parse_set(item: str) -> tuple[list[str], Any]:
    """`a.b.c=VALUE` -> (['a','b','c'], value parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"The --set option must be KEY=VALUE (e.g. tuner.max_trials=20). Got {item!r} instead.")
    key, _, text = item.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"The --set option must be KEY=VALUE with a dotted key. Got {item!r} instead.")
    value = load_yaml(text, f"The value in --set {describe(item)}") if text.strip() else None
    return parts, value


def _set(raw: dict, parts: list[str], value: Any, what: str) -> None:
    node = raw
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {} if node.get(p) is None else node[p]
            if not isinstance(node[p], dict):
                raise ConfigError(f"{what}: {p!r} is not a mapping in the config.")
        node = node[p]
    node[parts[-1]] = value


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """`--set KEY=VALUE` items applied to a copy of a raw config (values parsed as YAML)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        parts, value = parse_set(item)
        _set(raw, parts, value, f"--set {item!r}")
    return raw


def apply_values(raw: dict, values: dict) -> dict:
    """`{"tuner.max_trials": 20, ...}` applied to a copy of a raw config (the Python API's overrides)."""
    raw = copy.deepcopy(raw)
    for key, value in values.items():
        parts = str(key).split(".")
        if not all(parts):
            raise ConfigError(f"The override key {key!r} must be a dotted config key (e.g. 'tuner.max_trials').")
        _set(raw, parts, copy.deepcopy(value), f"override {key!r}")
    return raw


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read, apply `--set` overrides, validate."""
    path = Path(path)
    raw = read_yaml(path)
    if isinstance(raw, dict):
        raw = apply_overrides(raw, overrides)
    return from_dict(raw, source=str(path), base_dir=path.resolve().parent)


def to_dict(obj: Any) -> Any:
    """Plain data (lists, dicts, scalars) of a config, for YAML/JSON."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: to_dict(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.metadata.get("internal")
        }
    if isinstance(obj, (tuple, list)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def resolved_dict(cfg: Config) -> dict:
    """Every default filled and every path absolute: enough to reproduce the run anywhere."""
    d = to_dict(cfg)
    d["data"]["manifest"] = str(cfg.manifest_path().resolve())
    d["plugins"]["paths"] = [str(p.resolve()) for p in cfg.plugin_paths()]
    d["space"]["weights"] = cfg.weights_value()
    if cfg.cache.dir:
        d["cache"]["dir"] = str(resolve_path(cfg.base_dir, cfg.cache.dir).resolve())
    return d


def without_operational(d: dict, extra: Iterable[str] = ()) -> dict:
    """A resolved config without the keys that change how a search runs, not what it finds (and `extra`)."""
    d = copy.deepcopy(d)
    for key in (*OPERATIONAL_KEYS, *extra):
        *parents, last = key.split(".")
        node = d
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return d


def dump_yaml(d: dict) -> str:
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=None)
