"""One outer repeat of the benchmark: its split, both searches, every retraining, its predictions.

Repeat r splits the data with seed `data.split.seed + r` and searches with `tuner.seed + r` (both
arms share the repeat's split). Each arm's best configuration, and the order-aware one again with
a constant order (the architecture-only control), is retrained with each of the repeat's seeds:
`tuner.seed + RETRAIN_SALT * (r + 1) + i`, never a search seed. Every finished search and
retraining is kept on disk (`repeat-r/<arm>/`, `repeat-r/retrain/<arm>-seed<s>.npz`), so a killed
benchmark resumes without redoing them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoorder.benchmarking import controls as K
from autoorder.benchmarking.retrain import retrain
from autoorder.benchmarking.views import view_classifier
from autoorder.core import config as C
from autoorder.core.errors import RunError
from autoorder.core.stats import collapse_threshold, combine_views, converged
from autoorder.data.dataset import Dataset, resplit
from autoorder.run.progress import fmt_elapsed
from autoorder.run.folder import finished
from autoorder.run.search import run_search
from autoorder.schema.arms import ARMS
from autoorder.schema.results import RESULTS, RunResults, read_results

RETRAIN_SALT = 10_000  # retraining seeds live far from the search seeds (tuner.seed + r, r < RETRAIN_SALT)
RETRAINED = (*ARMS, K.ARCHITECTURE_ONLY)
MADE_FROM = "made_from"  # the configuration a stored retraining was made from (JSON)
Log = Callable[[str], None]


def repeat_seeds(cfg: C.Config, r: int) -> tuple[int, int]:
    """(split seed, search seed) of repeat r."""
    return cfg.data.split.seed + r, cfg.tuner.seed + r


def retrain_seeds(cfg: C.Config, r: int, n: int) -> list[int]:
    """The n retraining seeds of repeat r: disjoint from every repeat's search seed and from each other."""
    if not 0 <= r < RETRAIN_SALT or not 1 <= n < RETRAIN_SALT:
        raise ValueError(f"repeat {r} and {n} seeds: both must be below {RETRAIN_SALT}")
    return [cfg.tuner.seed + RETRAIN_SALT * (r + 1) + i for i in range(n)]


def search_of(retrained: str) -> str:
    """The arm whose search chose the configuration that `retrained` (an arm or a control) retrains."""
    return "order_aware" if retrained == K.ARCHITECTURE_ONLY else retrained


def repeat_config(cfg: C.Config, r: int) -> C.Config:
    split_seed, search_seed = repeat_seeds(cfg, r)
    data = dataclasses.replace(cfg.data, split=dataclasses.replace(cfg.data.split, seed=split_seed))
    return dataclasses.replace(cfg, data=data, tuner=dataclasses.replace(cfg.tuner, seed=search_seed))


@dataclass
class RepeatOutcome:
    """What one repeat adds to benchmark.json (besides the figures) and to predictions.csv.gz."""

    meta: dict
    rows: list[tuple]
    warnings: list[str] = field(default_factory=list)


def _earlier(out: Path) -> RunResults | None:
    """The results of a search that finished in `out` before (its results.json is written last), if any."""
    if not (out / RESULTS).exists():
        return None
    try:
        done = read_results(out)
    except RunError:
        return None
    return done if done.best is not None else None


def _search(cfg: C.Config, out: Path, registry: Any, data: Dataset, log: Log, verbose: bool = False) -> tuple[RunResults, bool]:
    """(the search's results, whether its best configuration changed since an earlier finished run).

    A finished search is read back, unless tuner.max_trials or tuner.time_budget now reach further:
    then it grows (its finished trials kept, only new ones run), as `autoorder search` does. Any other
    is run or resumed."""
    earlier = _earlier(out)
    if earlier is not None and finished(out, C.resolved_dict(cfg)) is not None:
        return earlier, False
    results = run_search(cfg, out, registry=registry, data=data, log=log, verbose=verbose)
    changed = earlier is not None and earlier.best.hyperparameters != results.best.hyperparameters
    return results, changed


def _cached(path: Path, make: Callable[[], dict], made_from: str) -> tuple[dict, bool]:
    """(the retraining stored at `path`, or made now and stored; whether it was made now).

    `made_from` (the configuration retrained, as JSON) is stored with it; a stored one made from
    another configuration is made again (files written before this was stored are taken as they are)."""
    if path.exists():
        with np.load(path) as z:
            stored = {k: z[k] for k in z.files}
        if str(stored.get(MADE_FROM, made_from)) == made_from:
            return stored, False
    r = {**make(), MADE_FROM: np.array(made_from)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    with open(tmp, "wb") as f:
        np.savez(f, **r)
    tmp.replace(path)  # atomic: a killed retraining leaves no file, and is run again
    return r, True


def run_repeat(
    cfg: C.Config, arms: dict[str, C.Config], registry: Any, data: Dataset, out: Path, r: int, n_seeds: int, log: Log,
    verbose: bool = False,
) -> RepeatOutcome:
    """Run (or resume) repeat r in OUT/repeat-r; its metadata, prediction rows and warnings.

    `log` gets a line before and after each retraining (k of N, the best epoch, seconds, an ETA);
    with `verbose`, also a line per epoch of every trial and every retraining."""
    split_seed, search_seed = repeat_seeds(cfg, r)
    folder = out / f"repeat-{r}"
    rdata = resplit(data, cfg.data.split.val, cfg.data.split.test, split_seed) if r else data
    rarms = {arm: repeat_config(c, r) for arm, c in arms.items()}
    searches = {}
    for arm in ARMS:
        tag = f"[repeat {r} {arm}]"
        log(f"{tag} search (split seed {split_seed}, search seed {search_seed})")
        searches[arm], changed = _search(rarms[arm], folder / arm, registry, rdata, lambda s, t=tag: log(f"{t} {s}"), verbose)
        if changed:  # a grown search picked another configuration: the retrainings of the old one are stale
            stale = [p for a in RETRAINED if search_of(a) == arm for p in (folder / "retrain").glob(f"{a}-seed*.npz")]
            for p in stale:
                p.unlink()
            log(f"{tag} the grown search picked another configuration: its {len(stale)} retrainings are made again")
    test = rdata.indices("test")
    orders, groups = rdata.orders[test], rdata.groups[test]
    constant = dataclasses.replace(rdata, orders=np.full_like(rdata.orders, K.CONSTANT_ORDER), _fingerprint=None)
    seeds = retrain_seeds(cfg, r, n_seeds)
    runs: dict[str, list[dict]] = {arm: [] for arm in RETRAINED}
    clock = RetrainClock(len(seeds) * len(RETRAINED), log)
    for s in seeds:
        variants = {
            "image_only": {"image_only": orders},
            "order_aware": K.order_variants(orders, groups, s),
            K.ARCHITECTURE_ONLY: {K.ARCHITECTURE_ONLY: np.full_like(orders, K.CONSTANT_ORDER)},
        }
        for arm in RETRAINED:
            source = search_of(arm)
            arm_data = constant if arm == K.ARCHITECTURE_ONLY else rdata

            tag = f"[repeat {r} {arm}] seed {s}"

            hps = searches[source].best.hyperparameters

            def make(arm=arm, source=source, arm_data=arm_data, tag=tag, hps=hps) -> dict:
                clock.start(f"{tag}: retraining the best configuration")
                return retrain(rarms[source], registry, arm_data, hps, s, variants[arm], log if verbose else None, tag)

            path = folder / "retrain" / f"{arm}-seed{s}.npz"
            result, ran = _cached(path, make, json.dumps(hps, sort_keys=True))
            clock.done(tag, result, cfg.tuner.epochs, ran)
            runs[arm].append({"variants": variants[arm], **result})
    health, below, warnings = retrain_health(rdata, runs, seeds, cfg.tuner.epochs, r)
    view, chance = view_classifier(rdata.images, rdata.orders, rdata.split)
    meta = {
        "repeat": r,
        "split_seed": split_seed,
        "search_seed": search_seed,
        "seeds": seeds,
        "searches": {arm: {"run_dir": f"repeat-{r}/{arm}", "best": searches[arm].best, "trials": searches[arm].trials,
                           "max_trials": cfg.tuner.max_trials, "epochs": cfg.tuner.epochs} for arm in ARMS},
        "retrains": health,
        "collapse_below": below,
        "view_classifier": view,
        "view_chance": chance,
    }
    return RepeatOutcome(meta, prediction_rows(rdata, r, seeds, runs), warnings)


class RetrainClock:
    """The retrainings' progress lines: `k/N` before each, then its best epoch and seconds, and an
    ETA from the mean time of those run in this process (resumed ones are read back, not timed)."""

    def __init__(self, total: int, log: Log):
        self.total, self.log = total, log
        self.count, self.ran, self.seconds, self._t0 = 0, 0, 0.0, 0.0

    def start(self, what: str) -> None:
        self._t0 = time.monotonic()
        self.log(f"{what} ({self.count + 1}/{self.total})")

    def done(self, tag: str, result: dict, max_epochs: int, ran: bool) -> None:
        self.count += 1
        val = np.asarray(result.get("val_accuracy", []), dtype=float).reshape(-1)
        epoch = int(result["best_epoch"]) if "best_epoch" in result else None
        best = float(result["best_val_accuracy"]) if "best_val_accuracy" in result else float("nan")
        if not ran:
            self.log(f"{tag}: done earlier, read back ({self.count}/{self.total})")
            return
        took = time.monotonic() - self._t0
        self.ran, self.seconds = self.ran + 1, self.seconds + took
        left = self.total - self.count
        eta = f"  about {fmt_elapsed(self.seconds / self.ran * left)} left in this repeat" if left else ""
        self.log(
            f"{tag}: val_accuracy {best:.4f} at epoch {epoch} of {len(val)} run (at most {max_epochs})  "
            f"{took:.1f}s  ({self.count}/{self.total}){eta}"
        )


def prediction_rows(data: Any, r: int, seeds: list[int], runs: dict[str, list[dict]]) -> list[tuple]:
    """Rows of predictions.csv.gz for one repeat: every arm and control, seed by seed, then the seed-free controls."""
    test = data.indices("test")
    classes = np.asarray(data.classes)
    images = [data.rows[i].path for i in test]
    groups, y, orders = data.groups[test], data.y[test], data.orders[test]
    labels = classes[y]
    rows: list[tuple] = []

    def add(seed: int | None, arm: str, given: np.ndarray, predicted: np.ndarray, obj_pred: np.ndarray | None) -> None:
        for j in range(len(test)):
            rows.append((r, seed, arm, images[j], str(groups[j]), int(given[j]), str(labels[j]), str(classes[predicted[j]]),
                         str(classes[obj_pred[j]]) if obj_pred is not None else ""))

    for i, s in enumerate(seeds):
        for arm in RETRAINED:
            run = runs[arm][i]
            for name, given in run["variants"].items():
                probs = run[f"probs_{name}"]
                _, which, combined = combine_views(probs, groups)
                add(s, name, given, probs.argmax(axis=1), combined.argmax(axis=1)[which])
    tr = data.indices("train")
    n_classes = len(classes)
    add(None, K.ORDER_ONLY, orders, K.order_only_predictions(data.orders[tr], data.y[tr], orders, n_classes), None)
    add(None, K.MAJORITY, orders, K.majority_predictions(data.y[tr], len(test), n_classes), None)
    return rows


def retrain_health(data: Any, runs: dict[str, list[dict]], seeds: list[int], max_epochs: int, r: int) -> tuple[dict, float, list[str]]:
    """Per arm and seed: best validation accuracy and epoch, converged, collapsed; and the warnings.

    A collapsed retraining (validation accuracy that does not clear the majority class by a
    clear margin) stays in every average, but is named in the warnings, on the terminal and
    in report.md: never dropped silently, never averaged in without a word.
    """
    val_y = data.y[data.indices("val")]
    majority = np.bincount(data.y[data.indices("train")], minlength=len(data.classes)).argmax()
    below = collapse_threshold(float((val_y == majority).mean()), len(val_y))
    health: dict = {}
    warnings = []
    for arm, arm_runs in runs.items():
        health[arm] = {}
        for s, run in zip(seeds, arm_runs):
            val = [float(v) for v in np.asarray(run.get("val_accuracy", []), dtype=float).reshape(-1)]
            best = max(val) if val else None
            health[arm][str(s)] = {
                "best_val_accuracy": best,
                "best_epoch": int(np.argmax(val)) + 1 if val else None,
                "epochs": len(val) or None,
                "converged": converged(val, max_epochs) if val else None,
                "collapsed": bool(best is not None and best <= below),
            }
        collapsed = {s: rec["best_val_accuracy"] for s, rec in health[arm].items() if rec["collapsed"]}
        if collapsed:
            warnings.append(
                f"repeat {r}, {arm}: {len(collapsed)} of {len(seeds)} retraining(s) collapsed (best validation accuracy "
                + ", ".join(f"seed {s}: {v:.4f}" for s, v in collapsed.items())
                + f"), which does not clear always answering the most frequent class ({below:.4f} needed); "
                "they stay in the averages."
            )
        unconverged = [s for s, rec in health[arm].items() if rec["converged"] is False]
        if unconverged:
            warnings.append(
                f"repeat {r}, {arm}: {len(unconverged)} of {len(seeds)} retraining(s) were still improving when their "
                f"{max_epochs} epochs ran out (seed {', '.join(unconverged)}); more epochs could change the gain."
            )
    return health, below, warnings
