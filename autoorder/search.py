"""A whole search: config -> plugins -> data -> Keras Tuner -> results, best model, test accuracy."""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoorder import __version__
from autoorder import config as C
from autoorder.errors import AutoOrderError, ConfigError, PluginError, RunError
from autoorder.fileio import clear_folder, folder_lock, read_json, write_csv, write_json, write_text
from autoorder import results as R

Log = Callable[[str], None]
RUN_STATE = "run.json"
TUNER_DIR = "tuner"


def _quiet_tensorflow() -> None:
    from autoorder.quiet import import_tensorflow

    import_tensorflow()
    # Reloading a trial's best epoch restores weights, not optimizer slots: expected, not news.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")


def versions() -> dict:
    import importlib.metadata as md

    out = {"autoorder": __version__}
    for pkg in ("tensorflow", "keras", "keras-tuner", "scikit-learn", "numpy", "pillow"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    import platform

    out["python"] = platform.python_version()
    return out


def config_hash(resolved: dict) -> str:
    """What defines a search (cache, distribution, leases excluded: they change how, not what)."""
    d = C.without_operational(resolved)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} -> {b!r}"]


def prepare_run_dir(out: Path, resolved: dict, overwrite: bool) -> dict | None:
    """Create, resume or overwrite a run folder. Returns the previous run state when resuming.

    Call with the folder locked (`fileio.folder_lock`), so that no running search loses files."""
    state_path = out / RUN_STATE
    if overwrite and out.exists():
        if not state_path.exists() and any(out.iterdir()):
            raise RunError(
                f"--out {str(out)!r} holds files that are not an autoorder run; refusing to overwrite them. "
                "Choose another folder."
            )
        clear_folder(out)  # not rmtree: the lock is held on the folder itself
    if out.exists() and any(out.iterdir()):
        if not state_path.exists():
            raise RunError(
                f"--out {str(out)!r} is not empty and is not an autoorder run; nothing was changed. "
                "Choose an empty or new folder."
            )
        state = read_json(state_path, "run state")
        old = state.get("config", {})
        if config_hash(old) != config_hash(resolved):
            changes = _diff(C.without_operational(old), C.without_operational(resolved))
            raise RunError(
                f"Run folder {str(out)!r} was started with a different config; resuming is refused. Changes:\n  "
                + "\n  ".join(changes[:20])
                + "\nRerun with --overwrite to start over, or use another --out."
            )
        return state
    out.mkdir(parents=True, exist_ok=True)
    return None


def trial_record(trial: Any, seconds: float | None, names: list[str] | None = None) -> dict:
    status = str(getattr(trial.status, "value", trial.status))
    score = trial.score
    reason = ""
    if status != "COMPLETED" and getattr(trial, "message", None):
        lines = [ln for ln in str(trial.message).strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else ""
    elif status == "COMPLETED" and not R.is_finite(score):
        reason = "no finite val_accuracy"
    return {
        "id": trial.trial_id,
        "status": status,
        "hyperparameters": _in_order(trial.hyperparameters.values, names),
        "val_accuracy": float(score) if R.is_finite(score) else None,
        "best_epoch": trial.best_step,
        "seconds": round(seconds, 3) if seconds is not None else None,
        "reason": reason,
    }


def _in_order(values: dict, names: list[str] | None) -> dict:
    """Values in the order the search space declares them (gRPC hands them back regrouped by type)."""
    if not names:
        return dict(values)
    return {**{k: values[k] for k in names if k in values}, **{k: v for k, v in values.items() if k not in names}}


def run_search(
    cfg: C.Config,
    out: str | Path,
    *,
    overwrite: bool = False,
    log: Log | None = None,
    registry: Any = None,
    data: Any = None,
    role: Any = None,
) -> dict:
    """Run (or resume) a search and export its best model. Returns the results dict.

    `role` (an `autoorder.distributed.Role`) makes this process part of a distributed search:
    the chief serves Keras Tuner's oracle to the workers, then writes the same results as a
    single-process search; a worker runs the trials the chief hands out and returns a summary.
    """
    _quiet_tensorflow()
    log = log or (lambda s: None)
    out = Path(out)
    if role is not None and role.is_worker:  # workers share the chief's folder (and its lock)
        return _run_worker(cfg, out, role, log, registry, data)
    with folder_lock(out, "run"):
        return _run_search(cfg, out, overwrite, log, registry, data, role)


def _run_search(cfg: C.Config, out: Path, overwrite: bool, log: Log, registry: Any, data: Any, role: Any) -> dict:
    run = _prepare(cfg, out, overwrite, log, registry, data)
    from autoorder.tuner import make_strategy

    chief = role is not None
    tuner = _make_tuner(
        run,
        on_trial=run.progress,
        deadline=None if chief else run.progress.deadline(cfg.tuner.time_budget),
        # The chief trains nothing; it only rebuilds the best trial for export.
        distribution_strategy=None if chief else make_strategy(cfg),
    )
    distributed = None
    if chief:
        from autoorder.distributed import search_signature, serve

        hello = {"config": search_signature(cfg), "data": run.data.fingerprint()}
        deadline = (lambda: run.progress.deadline(cfg.tuner.time_budget)) if cfg.tuner.time_budget else None
        distributed = serve(tuner, role, cfg.tuner.lease_seconds, run.progress, hello, log, deadline)
    else:
        tuner.search(verbose=0)
    if tuner.stop_reason:
        log(f"stopped: tuner.time_budget of {cfg.tuner.time_budget:g}s is spent ({len(tuner.oracle.trials)} trials)")
    return _finish(run, tuner, distributed)


class _Run:
    """What a search works with: its folder, data, space and progress."""

    def __init__(self, cfg: C.Config, out: Path, data: Any, space: Any, cache: Any, progress: "Progress", log: Log):
        self.cfg, self.out, self.data, self.space, self.cache, self.progress, self.log = cfg, out, data, space, cache, progress, log


class Progress:
    """One line per finished trial, and trial_seconds.json (read again on resume)."""

    def __init__(self, out: Path, total: int, log: Log):
        self.path = out / "trial_seconds.json"
        self.times: dict = read_json(self.path, "trial times") if self.path.exists() else {}
        self.total = total
        self.log = log
        self.t0 = time.monotonic()
        self.best = None
        for t in R.ranked([{"id": k, "status": "COMPLETED", "val_accuracy": v.get("score")} for k, v in self.times.items()]):
            self.best = t["val_accuracy"]
            break

    def deadline(self, budget: float | None) -> float | None:
        """time.monotonic() when a time budget runs out, counting earlier sessions of this run."""
        if not budget:
            return None
        spent = sum(v.get("seconds") or 0.0 for v in self.times.values())
        return time.monotonic() + max(budget - spent, 0.0)

    def __call__(self, trial: Any, seconds: float) -> None:
        score = trial.score if R.is_finite(trial.score) else None
        self.times[trial.trial_id] = {"seconds": round(seconds, 3), "score": score}
        write_json(self.path, self.times)
        if score is not None and (self.best is None or score > self.best):
            self.best = score
        hp = trial.hyperparameters.values
        what = f"{hp.get(C.HP_BACKBONE)}, freeze={_freeze_of(hp)}, order={hp.get(C.HP_ENCODING)}"
        status = str(getattr(trial.status, "value", trial.status))
        score_txt = f"val_accuracy {score:.4f}" if score is not None else f"{status.lower()}"
        best_txt = f"{self.best:.4f}" if self.best is not None else "-"
        self.log(
            f"trial {len(self.times)}/{self.total} [id {trial.trial_id}]  {score_txt}  best {best_txt}  ({what})  "
            f"{seconds:.1f}s  elapsed {_fmt_elapsed(time.monotonic() - self.t0)}"
        )


def _load(cfg: C.Config, log: Log, registry: Any, data: Any) -> tuple[Any, Any]:
    from autoorder.plugins import registry_for

    registry = registry or registry_for(cfg)
    check_space(cfg, registry)
    if data is None:
        from autoorder.dataset import load_dataset

        log(f"loading {cfg.manifest_path()} at {cfg.data.image_size}px")
        data = load_dataset(cfg)
    return registry, data


def _space(cfg: C.Config, out: Path, registry: Any, data: Any, log: Log) -> tuple[Any, Any]:
    """The search space and its feature cache; backbones are built here (preflight)."""
    import keras

    from autoorder.features import BackboneBank, FeatureCache
    from autoorder.space import SearchSpace

    bank = BackboneBank(registry, cfg.weights_value(), cfg.tuner.seed)
    cache = None
    if cfg.cache.enabled:
        spill = C.resolve_path(cfg.base_dir, cfg.cache.dir) if cfg.cache.dir else out / "cache"
        cache = FeatureCache(memory_mb=cfg.cache.memory_mb, spill_dir=spill, progress=log)
    space = SearchSpace(cfg, registry, data, bank, cache, log)
    preflight(out, bank, cfg, log)
    keras.utils.set_random_seed(cfg.tuner.seed)
    return space, cache


def _prepare(cfg: C.Config, out: Path, overwrite: bool, log: Log, registry: Any, data: Any) -> _Run:
    """Run folder (new or resumed), data, state files, space: everything before the first trial."""
    resolved = C.resolved_dict(cfg)
    previous = prepare_run_dir(out, resolved, overwrite)
    registry, data = _load(cfg, log, registry, data)
    fp = data.fingerprint()
    if previous is not None:
        if previous.get("data_fingerprint") != fp:
            raise RunError(
                f"Run folder {str(out)!r} was started on different data (images, orders or split changed: "
                f"fingerprint {previous.get('data_fingerprint')} -> {fp}); resuming is refused. "
                "Rerun with --overwrite to start over, or use another --out."
            )
        log(f"resuming run in {out}")
    started = (previous or {}).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json(out / RUN_STATE, {"config": resolved, "data_fingerprint": fp, "versions": versions(), "started": started})
    write_text(out / R.RESOLVED, C.dump_yaml(resolved))
    write_csv(out / R.SPLIT_CSV, ["line", "image", "label", "order", "object_id", "split"], data.split_rows())
    progress = Progress(out, cfg.tuner.max_trials, log)
    space, cache = _space(cfg, out, registry, data, log)
    return _Run(cfg, out, data, space, cache, progress, log)


def _make_tuner(run: _Run, **kwargs: Any) -> Any:
    from autoorder.tuner import AutoOrderTuner, make_oracle

    return AutoOrderTuner(
        make_oracle(run.cfg),
        run.space,
        trial_timeout=run.cfg.tuner.trial_timeout,
        log=run.log,
        directory=str(run.out),
        project_name=TUNER_DIR,
        overwrite=False,
        **kwargs,
    )


def _run_worker(cfg: C.Config, out: Path, role: Any, log: Log, registry: Any, data: Any) -> dict:
    """Run the trials a chief hands out until it says the search is done."""
    from autoorder.distributed import ChiefClient, search_signature
    from autoorder.tuner import make_strategy

    if out.exists() and not out.is_dir():
        raise RunError(f"--out {str(out)!r} is a file. Expected a folder for the run.")
    out.mkdir(parents=True, exist_ok=True)
    registry, data = _load(cfg, log, registry, data)
    client = ChiefClient(role, cfg.tuner.chief_timeout, cfg.tuner.lease_seconds)
    log(f"worker {role.worker_id}: waiting for the chief at {role.address} (up to {cfg.tuner.chief_timeout:g}s)")
    client.hello({"config": search_signature(cfg), "data": data.fingerprint()})
    space, cache = _space(cfg, out, registry, data, log)
    run = _Run(cfg, out, data, space, cache, None, log)  # type: ignore[arg-type]
    tuner = _make_tuner(run, link=client, tuner_id=role.worker_id, distribution_strategy=make_strategy(cfg))
    tuner.search(verbose=0)
    return {"role": "worker", "worker": role.worker_id, "chief": role.address, "trials": tuner.trials_run}


def _finish(run: _Run, tuner: Any, distributed: dict | None = None) -> dict:
    """results.json, trials.csv, best model and its test predictions, from the oracle's trials."""
    out, data, cache = run.out, run.data, run.cache
    times = run.progress.times
    names = [h.name for h in tuner.oracle.get_space().space]
    trials = [trial_record(t, times.get(t.trial_id, {}).get("seconds"), names) for t in tuner.oracle.trials.values()]
    trials.sort(key=lambda t: t["id"])
    ranking = R.ranked(trials)
    results: dict = {
        "autoorder_version": __version__,
        "run_dir": str(out.resolve()),
        "config": str(out / R.RESOLVED),
        "dataset": data.summary(),
        "trials": trials,
        "ranking": [t["id"] for t in ranking],
        "best": None,
        "versions": versions(),
        "seconds": round(sum(t.get("seconds") or 0 for t in trials), 3),
        "stopped": tuner.stop_reason or "max_trials",
    }
    if distributed is not None:
        results["distributed"] = distributed
    elif cache is not None:  # a chief computes no features: its workers do
        results["cache"] = {"backbone_passes": cache.total_passes()}
    if not ranking:
        R.write_results(out, results)
        reasons = "; ".join(f"trial {t['id']}: {t['reason']}" for t in trials[:5])
        raise RunError(f"No trial of the search in {str(out)!r} finished with a finite score ({reasons}).")
    best_trial = ranking[0]
    run.log(f"exporting the best model (trial id {best_trial['id']}, val_accuracy {best_trial['val_accuracy']:.4f})")
    results["best"] = export_best(tuner, run.space, best_trial, data, out)
    results["baseline"] = {"majority_class": data.majority_baseline()}
    results["warnings"] = search_warnings(run.cfg, results)
    for w in results["warnings"]:
        run.log(f"warning: {w}")
    R.write_results(out, results)
    return results


def search_warnings(cfg: C.Config, results: dict) -> list[str]:
    """What a user should know before trusting the best model."""
    best, base = results["best"], results["baseline"]["majority_class"]
    found = []
    if base.get("val_accuracy") is not None and best["val_accuracy"] <= base["val_accuracy"] + 1e-9:
        hint = "Check that labels and images belong together."
        if cfg.space.weights is None and C.FREEZE_ALL in cfg.space.freeze:
            hint += (
                " space.weights is null, so every backbone starts from random weights and a frozen one (freeze: all)"
                " gives features that carry little about the image: give weights (a file, or imagenet), or let trials"
                " train the backbone (freeze: none or a freeze point)."
            )
        found.append(
            f"the best model (val_accuracy {best['val_accuracy']:.4f}) does not beat always answering the most "
            f"frequent training class {base['label']!r} ({base['val_accuracy']:.4f} on validation). {hint}"
        )
    return found


def _freeze_of(hp: dict) -> Any:
    b = hp.get(C.HP_BACKBONE)
    return hp.get(f"{b}/{C.HP_FREEZE}")


def _fmt_elapsed(s: float) -> str:
    m, sec = divmod(int(s), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


REQUIRED_LIBRARIES = {"tensorflow": "tensorflow", "keras": "keras", "keras_tuner": "keras-tuner", "tensorboard": "tensorboard"}


def preflight(out: Path, bank: Any, cfg: C.Config, log: Log) -> None:
    """Environment problems end the run before any trial, instead of failing every trial."""
    import importlib

    for module, package in REQUIRED_LIBRARIES.items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise RunError(
                f"The library {module!r} cannot be imported ({e}); Keras Tuner needs it inside every trial. "
                f"Install it: pip install {package}"
            ) from None
    probe = out / ".write-test"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise RunError(f"The run folder {str(out)!r} is not writable: {e.strerror}.") from None
    build_backbones(bank, cfg)


def build_backbones(bank: Any, cfg: C.Config) -> None:
    """Build each backbone once: weights and plugin errors surface here, not in every trial.

    The bank keeps the result (initial weights) for the trials.
    """
    for name in cfg.space.backbones:
        try:
            bank.pristine(name, cfg.data.image_size)
        except AutoOrderError:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's own failure, named with its source
            source = bank.registry.backbones[name].source
            raise PluginError(
                f"Backbone {name!r} ({source}) fails to build at {cfg.data.image_size}px: {type(e).__name__}: {e}"
            ) from None


def check_space(cfg: C.Config, registry: Any) -> None:
    """Every named backbone, encoding and freeze point exists (before any data is read)."""
    from autoorder.space import freeze_values

    for name in cfg.space.backbones:
        if name not in registry.backbones:
            raise ConfigError(
                f"The 'space.backbones' key in {cfg.source} names {name!r}, which is not a registered backbone. "
                f"Expected one of {registry.list_backbones()}.{C.did_you_mean(name, registry.backbones)}"
            )
    for name in cfg.space.order_encodings:
        if name not in registry.encodings:
            raise ConfigError(
                f"The 'space.order_encodings' key in {cfg.source} names {name!r}, which is not a registered encoding. "
                f"Expected one of {registry.list_encodings()}.{C.did_you_mean(name, registry.encodings)}"
            )
    freeze_values(cfg, registry)


def export_best(tuner: Any, space: Any, best_trial: dict, data: Any, out: Path) -> dict:
    """Rebuild the best trial, load its best epoch, export image+order -> probabilities, test it."""
    import keras

    from keras_tuner.src.engine.tuner import maybe_distribute

    trial = tuner.oracle.get_trial(best_trial["id"])
    checkpoint = Path(tuner._get_checkpoint_fname(trial.trial_id))
    if not checkpoint.exists():  # distributed: a worker wrote to a folder the chief does not see
        raise RunError(
            f"The weights of the best trial ({checkpoint}) are not in the run folder {str(out)!r}. Workers of a "
            "distributed search must use the chief's run folder (a shared folder across hosts): copy their "
            "tuner/trial_* folders into it, then run the chief's command again to export."
        )
    tuner.load_model(trial)  # builds via space.build and loads the checkpoint of its best epoch
    with maybe_distribute(tuner.distribution_strategy):
        model = space.export()
    path = out / R.BEST_MODEL
    tmp = out / (".tmp-" + R.BEST_MODEL)
    model.save(tmp)
    os.replace(tmp, path)
    write_json(out / R.LABELS, data.classes)

    idx = data.indices("test")
    probs = model.predict(
        {"image": data.images[idx].astype(np.float32), "order": data.orders[idx]}, batch_size=64, verbose=0
    )
    pred = probs.argmax(axis=1)
    y = data.y[idx]
    per_order = {}
    for o in sorted(set(int(v) for v in data.orders[idx])):
        m = data.orders[idx] == o
        per_order[str(o)] = {"n": int(m.sum()), "accuracy": float((pred[m] == y[m]).mean())}
    rows = []
    for j, i in enumerate(idx):
        r = data.rows[i]
        rows.append([r.path, r.group, r.order, r.label, data.classes[pred[j]], round(float(probs[j, pred[j]]), 6)])
    write_csv(out / R.TEST_PREDICTIONS, ["image", "object_id", "order", "label", "predicted", "probability"], rows)
    return {
        "trial": best_trial["id"],
        "hyperparameters": best_trial["hyperparameters"],
        "val_accuracy": best_trial["val_accuracy"],
        "test_accuracy": float((pred == y).mean()),
        "test_images": int(len(idx)),
        "test_per_order": per_order,
        "model": R.BEST_MODEL,
        "keras_version": keras.__version__,
    }
