"""Every figure of benchmark.json, from predictions.csv.gz alone. Plain numpy and scipy, no TensorFlow.

The benchmark writes its predictions first and computes its figures from the file it wrote, so
what `figures_from_folder` recomputes from a committed folder is what benchmark.json publishes
(the bootstrap's resamples are fixed by `statistics.reps` and `.seed`): to the last digit on the
same machine, to about 15 significant digits on another (BLAS sums in a processor-specific order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoorder.benchmarking.controls import ARCHITECTURE_ONLY, MAJORITY, NONCOMPLIANCE, ORDER_ONLY, ORDER_UNKNOWN, SHUFFLED
from autoorder.core import bootstrap as B
from autoorder.core.errors import RunError
from autoorder.schema.arms import ARMS
from autoorder.schema.benchmark import read_benchmark
from autoorder.schema.predictions import NO_SEED, Predictions, read_predictions

SEEDED_CONTROLS = (SHUFFLED, ARCHITECTURE_ONLY, *(arm for arm, _ in NONCOMPLIANCE.values()), ORDER_UNKNOWN)
CONTROL_WHAT = {
    SHUFFLED: "order-aware model, orders permuted across test photos",
    ARCHITECTURE_ONLY: "order-aware best configuration trained and tested with one constant order for every photo",
    "noncompliance": "order-aware model when the photos of a share of test objects were uploaded in another order "
                     "(their orders permuted among the object's photos), and with every order unknown (0)",
    ORDER_ONLY: "majority label of each order value in train (the best any order-only model can do)",
    MAJORITY: "most frequent label in train",
}


@dataclass
class Block:
    """One repeat's test photos, aligned across arms and seeds."""

    repeat: int
    seeds: list[int]
    obj_index: np.ndarray  # photo -> index into `objects`
    objects: np.ndarray  # sorted object ids
    label: np.ndarray  # photo -> class name
    order: np.ndarray  # photo -> the true (uploaded) order
    obj_label: np.ndarray  # object -> class name
    correct: dict[str, np.ndarray]  # arm -> (seeds or 1, photos) bool
    obj_correct: dict[str, np.ndarray]  # arm -> (seeds, objects) bool, where the file has object predictions

    def photos(self, arm: str, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(num, den) per object: correct photos (per seed) and photos, of those in `mask`."""
        m = np.ones(len(self.label), dtype=bool) if mask is None else mask
        n = len(self.objects)
        num = np.stack([np.bincount(self.obj_index, weights=(c & m).astype(float), minlength=n) for c in self.correct[arm]])
        return num, np.bincount(self.obj_index, weights=m.astype(float), minlength=n)


def _blocks(preds: Predictions) -> list[Block]:
    blocks = []
    for r in sorted(set(preds.repeat.tolist())):
        in_r = preds.repeat == r
        ref_mask = in_r & (preds.arm == "image_only")
        if not ref_mask.any():
            raise RunError(f"The predictions file has no image_only rows for repeat {r}; every repeat needs both arms.")
        seeds = list(dict.fromkeys(int(s) for s in preds.seed[ref_mask]))
        ref = ref_mask & (preds.seed == seeds[0])
        images = preds.image[ref]
        objects, obj_index = np.unique(preds.object_id[ref], return_inverse=True)
        label = preds.label[ref]
        first = np.unique(obj_index, return_index=True)[1]
        correct, obj_correct = {}, {}
        for arm in dict.fromkeys(preds.arm[in_r].tolist()):
            arm_seeds = [NO_SEED] if (preds.seed[in_r & (preds.arm == arm)] == NO_SEED).all() else seeds
            rows_c, rows_o = [], []
            for s in arm_seeds:
                sel = in_r & (preds.arm == arm) & (preds.seed == s)
                if sel.sum() != len(images) or not np.array_equal(preds.image[sel], images):
                    raise RunError(
                        f"The predictions file is not aligned: repeat {r}, arm {arm!r}, seed {s} must list the same "
                        f"{len(images)} test photos in the same order as image_only. Rerun `autoorder benchmark`."
                    )
                rows_c.append(preds.predicted[sel] == label)
                op = preds.object_predicted[sel]
                if s != NO_SEED and (op != "").all():
                    rows_o.append(op[first] == label[first])
            correct[arm] = np.stack(rows_c)
            if rows_o and len(rows_o) == len(arm_seeds):
                obj_correct[arm] = np.stack(rows_o)
        blocks.append(Block(r, seeds, obj_index, objects, label, preds.order[ref], label[first], correct, obj_correct))
    if not blocks:
        raise RunError("The predictions file has no rows.")
    return blocks


class _Figures:
    """Builds the bootstrap's Figure for each published figure, over every repeat."""

    def __init__(self, blocks: list[Block]):
        self.blocks = blocks
        self.figs: dict[str, B.Figure] = {}
        self.classes = np.unique(np.concatenate([b.obj_label for b in blocks]))

    def photos(self, name: str, arm: str, mask=None, minus: str | None = None, groups: bool = False) -> None:
        nums, dens, grp = [], [], []
        for b in self.blocks:
            m = mask(b) if mask is not None else None
            num, den = b.photos(arm, m)
            if minus is not None:
                num = num - b.photos(minus, m)[0]
            nums.append(num)
            dens.append(den)
            grp.append(np.searchsorted(self.classes, b.obj_label))
        self.figs[name] = B.Figure(nums, dens, grp if groups else None)

    def objects(self, name: str, arm: str, minus: str | None = None) -> None:
        nums = []
        for b in self.blocks:
            num = b.obj_correct[arm].astype(float)
            nums.append(num - b.obj_correct[minus] if minus is not None else num)
        self.figs[name] = B.Figure(nums, [np.ones(len(b.objects)) for b in self.blocks])


def _label(n_repeats: int, seeds: list[int], reps: int) -> str:
    s = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}-{max(seeds)}"
    if n_repeats >= 2:
        return f"95% hierarchical bootstrap over {n_repeats} repeats, {s} seeds each and test objects ({reps} resamples)"
    return (f"95% bootstrap over {s} seed{'s' if s != '1' else ''} and test objects of one split and search "
            f"({reps} resamples; no other split or search)")


def compute_figures(preds: Predictions, reps: int = B.DEFAULT_REPS, seed: int = B.DEFAULT_SEED) -> dict:
    """Every figure of benchmark.json (as plain data) from the predictions, with one shared bootstrap."""
    blocks = _blocks(preds)
    for b in blocks:
        missing = [a for a in ARMS if a not in b.correct]
        if missing:
            raise RunError(f"The predictions file has no {missing[0]} rows for repeat {b.repeat}.")
    F = _Figures(blocks)
    classes = F.classes
    orders = sorted({int(o) for b in blocks for o in np.unique(b.order)})
    for arm in ARMS:
        F.photos(f"{arm}/test", arm)
        F.photos(f"{arm}/balanced", arm, groups=True)
        if all(arm in b.obj_correct for b in blocks):
            F.objects(f"{arm}/object", arm)
        for o in orders:
            F.photos(f"{arm}/order/{o}", arm, mask=lambda b, o=o: b.order == o)
        for c in classes:
            F.photos(f"{arm}/class/{c}", arm, mask=lambda b, c=c: b.label == c)
    F.photos("gain", "order_aware", minus="image_only")
    F.photos("balanced_gain", "order_aware", minus="image_only", groups=True)
    if all(a in b.obj_correct for b in blocks for a in ARMS):
        F.objects("object_gain", "order_aware", minus="image_only")
    controls = [c for c in (*SEEDED_CONTROLS, ORDER_ONLY, MAJORITY) if all(c in b.correct for b in blocks)]
    for c in controls:
        F.photos(f"control/{c}", c)

    n_seeds = [len(b.seeds) for b in blocks]
    n_objects = [len(b.objects) for b in blocks]
    K = len(blocks)
    draws = B.replicates(F.figs, n_seeds, n_objects, reps=reps, seed=seed)
    label = _label(K, n_seeds, reps)

    def interval(name: str, kind: str = "accuracy") -> dict:
        fig = F.figs[name]
        low, high = B.interval(draws[name], K)
        out = {"mean": B.point(fig), "low": low, "high": high, "interval": label,
               "per_repeat": B.repeat_values(fig),
               "images": int(sum(d.sum() for d in fig.den)) if kind == "photos" else None,
               "objects": int(sum((d > 0).sum() for d in fig.den))}
        if kind == "gain":
            out.update(p_positive=B.p_positive(draws[name]), p_value=B.p_value(draws[name], K, out["mean"]))
        return out

    def photos_interval(name: str) -> dict:
        return interval(name, "photos")

    result: dict = {}
    for arm in ARMS:
        result[arm] = {
            "test_accuracy": photos_interval(f"{arm}/test"),
            "object_accuracy": interval(f"{arm}/object") if f"{arm}/object" in F.figs else None,
            "balanced_accuracy": photos_interval(f"{arm}/balanced"),
        }
    result["gain"] = {**interval("gain", "gain"), "images": result["order_aware"]["test_accuracy"]["images"]}
    result["object_gain"] = interval("object_gain", "gain") if "object_gain" in F.figs else None
    result["balanced_gain"] = interval("balanced_gain", "gain")
    result["per_order"] = {arm: {str(o): photos_interval(f"{arm}/order/{o}") for o in orders} for arm in ARMS}
    result["per_class"] = {arm: {str(c): photos_interval(f"{arm}/class/{c}") for c in classes} for arm in ARMS}
    result["controls"] = _controls(controls, photos_interval)
    result["repeats"] = [_repeat_figures(b, F.figs, i) for i, b in enumerate(blocks)]
    lo, hi = B.percentile_levels(K)
    result["statistics"] = {
        "method": "hierarchical bootstrap: repeats with replacement, then within each drawn repeat its retraining "
                  "seeds with replacement, then its test objects with replacement (whole objects); every figure "
                  "on the same resamples; percentiles"
                  + (f", their levels widened for {K} repeats (expanded percentile interval: "
                     "Phi(sqrt(K/(K-1)) t_{K-1}(0.025)))" if K >= 2 else ""),
        "reps": reps, "seed": seed, "level": B.LEVEL, "percentiles": [lo, hi],
        "p_value": ("one-sided, for gain > 0: p = T_{K-1}(-gain / (sqrt(K/(K-1)) sd)), sd the standard deviation of "
                    "the replicates (the test of the widened interval when the replicates are about normal)" if K >= 2
                    else "one-sided, for gain > 0: (1 + replicates <= 0) / (1 + replicates); below 0.025 exactly when "
                         "the interval lies above zero"),
    }
    return result


def _controls(present: list[str], interval) -> dict:
    out = {}
    for key in (SHUFFLED, ARCHITECTURE_ONLY):
        if key in present:
            out[key] = {**interval(f"control/{key}"), "what": CONTROL_WHAT[key]}
    levels = {lvl: interval(f"control/{arm}") for lvl, (arm, _) in NONCOMPLIANCE.items() if arm in present}
    if ORDER_UNKNOWN in present:
        levels["unknown"] = interval(f"control/{ORDER_UNKNOWN}")
    if levels:
        out["noncompliance"] = {"what": CONTROL_WHAT["noncompliance"], "levels": levels}
    for key in (ORDER_ONLY, MAJORITY):
        if key in present:
            out[key] = {**interval(f"control/{key}"), "what": CONTROL_WHAT[key]}
    return out


def _repeat_figures(b: Block, figs: dict[str, B.Figure], i: int) -> dict:
    seeds = [str(s) for s in b.seeds]
    acc = {arm: dict(zip(seeds, B.seed_values(figs[f"{arm}/test"], i))) for arm in ARMS}
    for c in SEEDED_CONTROLS:
        if f"control/{c}" in figs:
            acc[c] = dict(zip(seeds, B.seed_values(figs[f"control/{c}"], i)))
    obj = {arm: dict(zip(seeds, B.seed_values(figs[f"{arm}/object"], i))) for arm in ARMS if f"{arm}/object" in figs}
    return {
        "repeat": b.repeat,
        "seeds": list(b.seeds),
        "test_images": int(len(b.label)),
        "test_objects": int(len(b.objects)),
        "accuracy": acc,
        "object_accuracy": obj,
        "gain": dict(zip(seeds, B.seed_values(figs["gain"], i))),
    }


def figures_from_folder(bench_dir: str | Path) -> dict:
    """Recompute every figure of BENCH_DIR/benchmark.json from BENCH_DIR/predictions.csv.gz."""
    bench = read_benchmark(bench_dir)
    if bench.protocol < 2 or bench.statistics is None or bench.statistics.reps is None:
        raise RunError(
            f"The benchmark in {str(bench_dir)!r} was made by protocol {bench.protocol} (schema version 1), which kept "
            "no predictions file; rerun `autoorder benchmark` to get one."
        )
    preds = read_predictions(bench_dir)
    return compute_figures(preds, reps=bench.statistics.reps, seed=bench.statistics.seed or 0)
