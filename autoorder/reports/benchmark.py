"""`report.md` and `plots/*.png` for a benchmark folder, from its benchmark.json alone.

The report answers one question first (does the upload order help, by how much, how sure are
we), then shows the figures behind the answer: both arms per seed, per object and per order,
the controls, the two best configurations and every trial of both searches. Like the search
report, it reads through `autoorder.schema` and never imports TensorFlow or Keras.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.lines import Line2D

from autoorder.core.config import (
    HP_BACKBONE, HP_DROPOUT, HP_ENCODING, HP_FREEZE, HP_HEAD_DEPTH, HP_HEAD_WIDTH, HP_LEARNING_RATE,
)
from autoorder.core.fileio import write_text
from autoorder.core.version import __version__
from autoorder.reports import plots
from autoorder.reports.markdown import REPORT, Doc, dataset_section, freeze_of, md, order_name, table, visible_hps
from autoorder.schema.benchmark import ARMS, BENCHMARK_JSON, ArmSearch, BenchmarkResult, Control, Estimate, Gain, read_benchmark
from autoorder.schema.results import BestModel, is_finite, ranked

ARM_NAMES = {"image_only": "image-only", "order_aware": "order-aware"}
ARM_COLORS = {"image_only": plots.PALETTE[0], "order_aware": plots.PALETTE[1]}
GAIN_COLOR = plots.PALETTE[2]
CONTROL_COLOR = "#9a9a9a"
CONTROL_NAMES = {
    "shuffled_order": "shuffled order at test time",
    "order_only": "order-only model",
    "majority_class": "majority class",
}
# What each control shows, in one line (the benchmark.json `what` says how it was made).
CONTROL_MEANING = {
    "shuffled_order": "The order-aware model with the orders permuted across test images. If the model really uses "
                      "the order, accuracy falls (often below image-only, as the orders now mislead it); if it "
                      "does not fall, the gain does not come from the order.",
    "order_only": "The majority label of each order value in train: all the order says about the class by "
                  "itself. At the majority-class level, any gain must come from reading the image in the light of "
                  "its order.",
    "majority_class": "Always the most frequent label in train: the floor any model must beat.",
}
# Plot labels: broken by hand, as the default wrapping breaks only after '/' and '_'.
CONTROL_LABELS = {"shuffled_order": "shuffled order\nat test time", "order_only": "order only",
                  "majority_class": "majority\nclass"}
# Hyperparameters shown first, in this order, in the side-by-side table; the others follow.
_HP_ORDER = (HP_BACKBONE, HP_FREEZE, HP_HEAD_DEPTH, HP_HEAD_WIDTH, HP_DROPOUT, HP_ENCODING, HP_LEARNING_RATE)
_MAX_SEED_COLUMNS = 8

Interval = Any  # an Estimate, Gain, Bootstrap or Control: anything with mean, low and high


# ----- formatting ------------------------------------------------------------------------------
def _pct(x: Any) -> str:
    """An accuracy (fraction) as a percentage."""
    return f"{100 * x:.1f}%" if is_finite(x) else "-"


def _pts(x: Any) -> str:
    """A difference of accuracies (fraction) in signed percentage points."""
    return f"{100 * x:+.1f}" if is_finite(x) else "-"


def _has_interval(ci: Interval | None) -> bool:
    return ci is not None and is_finite(ci.low) and is_finite(ci.high)


def _ci(ci: Interval | None, fmt=_pct) -> str:
    """`[low, high]`; an accuracy interval is clipped to [0%, 100%] (Student-t is symmetric, accuracy is not)."""
    if not _has_interval(ci):
        return "n/a"
    lo, hi = _clip(ci.low, ci.high) if fmt is _pct else (ci.low, ci.high)
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _ci_prose(ci: Interval | None, fmt=_pct) -> str:
    """` [low, high]` after a number in a sentence, or nothing when there is no interval."""
    return f" {_ci(ci, fmt)}" if _has_interval(ci) else ""


def _clip(low: Any, high: Any) -> tuple[Any, Any]:
    return (max(0.0, low) if is_finite(low) else low, min(1.0, high) if is_finite(high) else high)


def _includes_zero(ci: Interval) -> bool:
    return ci.low <= 0.0 <= ci.high


def _seed_values(ci: Estimate | Control | None, seeds: Sequence[str]) -> list[Any]:
    return [ci.per_seed.get(s) for s in seeds] if ci is not None else [None] * len(seeds)


def _mean(ci: Any) -> Any:
    return ci.mean if ci is not None else None


def _test_images(bench: BenchmarkResult) -> Any:
    n = bench.dataset.images_per_split.get("test") if bench.dataset is not None else None
    if n is not None:
        return n
    best = bench.searches.get("order_aware").best if "order_aware" in bench.searches else None
    return best.test_images if best is not None else None


def _objects(bench: BenchmarkResult) -> Any:
    oa = bench.order_aware.object_accuracy
    return oa.objects if oa is not None else None


# ----- sections ----------------------------------------------------------------------------------
def _verdict(gain: Gain, n_seeds: int) -> str:
    """The headline sentence: the gain, its main 95% interval, and whether that interval includes zero."""
    boot = gain.bootstrap
    mean = gain.mean
    note = ""
    if _has_interval(gain):
        ci, which = gain, f"95% Student-t interval over {n_seeds} paired seeds"
    elif _has_interval(boot):
        ci, which = boot, "95% paired bootstrap interval over test objects"
        note = " With a single seed there is no interval over seeds; rerun with `--seeds 3` or more for one."
    else:
        return (f"**Not established.** The order-aware model scores **{_pts(mean)} points** of test accuracy against "
                "the image-only one, but this benchmark has no interval (one seed and no bootstrap), so how sure we "
                "are is unknown.")
    interval = f"its {which}, {_ci(ci, _pts)} points,"
    if _includes_zero(ci):
        text = (f"**Not established.** The order-aware model scores **{_pts(mean)} points** of test accuracy against "
                f"the image-only one, a gain **not distinguishable from zero**: {interval} includes zero.")
    elif ci.low > 0:
        text = (f"**Yes.** Knowing the upload order raises test accuracy by **{_pts(mean)} points**: "
                f"{interval} lies entirely above zero.")
    else:
        text = (f"**No, it hurts.** The order-aware model is **{100 * abs(mean):.1f} points** less accurate than the "
                f"image-only one: {interval} lies entirely below zero.")
    return text + note


def _headline(doc: Doc, bench: BenchmarkResult, seeds: list[str]) -> None:
    gain = bench.gain
    doc.add(_verdict(gain, len(seeds)))
    io_, oa = bench.image_only.test_accuracy, bench.order_aware.test_accuracy
    n_img, n_obj = _test_images(bench), _objects(bench)
    on = f" on {n_img} test images" if n_img is not None else ""
    on += f" ({n_obj} objects)" if n_obj is not None else ""
    bullets = [
        f"Test accuracy{on}, mean of {len(seeds)} retraining{'s' if len(seeds) != 1 else ''} of each search's best "
        f"configuration: order-aware **{_pct(oa.mean)}**{_ci_prose(oa)}, "
        f"image-only **{_pct(io_.mean)}**{_ci_prose(io_)}."
    ]
    boot = gain.bootstrap
    if _has_interval(boot):
        side = "is above zero" if boot.low > 0 else "is below zero"
        if _includes_zero(boot):
            side = "includes zero"
            if _has_interval(gain) and not _includes_zero(gain):
                side += ", so the result depends on which objects happen to be in the test split: treat it as tentative"
        objs = f"the {n_obj} test objects" if n_obj is not None else "test objects"
        reps = boot.reps if boot.reps is not None else "?"
        bullets.append(f"Paired bootstrap over {objs} (views of one object kept together, {reps} "
                       f"resamples): {_ci(boot, _pts)} points; this interval {side}.")
    og = bench.object_gain
    if og is not None and is_finite(og.mean):
        side = ""
        if _has_interval(og):
            where = "includes zero" if _includes_zero(og) else ("is above zero" if og.low > 0 else "is below zero")
            side = f"; its interval {where}"
        bullets.append(f"Per object (an object's views combined by summing log-probabilities), the gain is "
                       f"{_pts(og.mean)} points{_ci_prose(og, _pts)}{side}.")
    per = _seed_values(gain, seeds)
    if any(is_finite(v) for v in per):
        bullets.append("Gain per seed: " + ", ".join(f"seed {s}: {_pts(v)}" for s, v in zip(seeds, per)) + " points.")
    doc.add("\n".join(f"- {b}" for b in bullets))
    doc.add("Points are percentage points of test accuracy. Seed *s* of one model is paired with seed *s* of the "
            "other: same split, same seed. The Student-t interval reflects training randomness (initialisation, "
            "batches) on this one split; the bootstrap reflects which objects happen to be in the test split. "
            "Neither covers another split, another search budget or another dataset.")


def _seed_table(rows: list[tuple[str, Estimate | None, str]], seeds: list[str]) -> str:
    """rows: (label, an estimate with per_seed, 'pct' for an accuracy or 'pts' for a gain)."""
    wide = len(seeds) <= _MAX_SEED_COLUMNS
    header = ["", "mean", "95% interval"] + ([f"seed {s}" for s in seeds] if wide else ["per seed"])
    align = ["l", "r", "l"] + (["r"] * len(seeds) if wide else ["l"])
    out = []
    for label, ci, fmt in rows:
        f = _pct if fmt == "pct" else _pts
        vals = [f(v) for v in _seed_values(ci, seeds)]
        out.append([label, f(_mean(ci)), _ci(ci, f), *(vals if wide else [", ".join(vals)])])
    return table(header, out, align)


def _accuracy_section(doc: Doc, bench: BenchmarkResult, seeds: list[str]) -> None:
    doc.add("## Test accuracy")
    n_img = _test_images(bench)
    gain = bench.gain
    rows = [
        ("image-only", bench.image_only.test_accuracy, "pct"),
        ("order-aware", bench.order_aware.test_accuracy, "pct"),
        ("gain (points)", gain, "pts"),
    ]
    doc.add("### Per image" + (f" ({n_img} test images)" if n_img is not None else ""),
            "Intervals: 95% Student-t over seeds, clipped to [0%, 100%] for accuracies; the gain is paired by seed."
            + (" With a single seed there is none (n/a)." if len(seeds) < 2 else ""),
            _seed_table(rows, seeds))
    boot = gain.bootstrap
    if _has_interval(boot):
        reps = boot.reps if boot.reps is not None else "?"
        doc.add(f"Gain, 95% paired bootstrap over test objects ({reps} resamples of whole objects, "
                f"correctness averaged over seeds): {_pts(boot.mean)} points {_ci(boot, _pts)}.")
    n_obj = _objects(bench)
    rows = [
        ("image-only", bench.image_only.object_accuracy, "pct"),
        ("order-aware", bench.order_aware.object_accuracy, "pct"),
        ("gain (points)", bench.object_gain, "pts"),
    ]
    doc.add("### Per object" + (f" ({n_obj} test objects)" if n_obj is not None else ""),
            "An object's views are combined by summing their log-probabilities; the object is right when the "
            "class with the largest sum is its label.",
            _seed_table(rows, seeds))
    doc.plot("gain", "Gain of the order-aware model over the image-only one, with 95% intervals and per-seed points",
             lambda p: _gain_plot(p, bench, seeds))


def _retrain_section(doc: Doc, bench: BenchmarkResult, seeds: list[str]) -> None:
    if not bench.retrains:
        return
    rows = []
    for arm in ARMS:
        for s in seeds:
            r = bench.retrains.get(arm, {}).get(s)
            if r is None:
                continue
            epochs = f"{r.best_epoch} / {r.epochs}" if r.epochs else "-"
            state = "collapsed" if r.collapsed else ("converged" if r.converged else ("still improving" if r.converged is False else "-"))
            rows.append([ARM_NAMES[arm], s, _pct(r.best_val_accuracy), epochs, state])
    if not rows:
        return
    below = f" A retraining at or below {_pct(bench.collapse_below)} validation accuracy collapsed." if is_finite(bench.collapse_below) else ""
    doc.add("### How each retraining went",
            "Best validation accuracy and its epoch (its weights are the ones tested). *Converged*: the training "
            "had stopped improving (stopped early, or its last fifth of epochs raised the best score by at most a "
            "point)." + below,
            table(["model", "seed", "best val accuracy", "best epoch / epochs", "training"], rows, ["l", "r", "r", "r", "l"]))


def _controls_section(doc: Doc, bench: BenchmarkResult) -> None:
    controls = bench.controls
    if not controls:
        return
    doc.add("## Controls",
            "Each control takes information away from the models; read each against the two models above.")
    oa, io_ = bench.order_aware.test_accuracy, bench.image_only.test_accuracy
    rows = [
        ["order-aware model (reference)", _pct(oa.mean), _ci(oa), "The model under test, with the true orders."],
        ["image-only model (reference)", _pct(io_.mean), _ci(io_), "The best model that never sees the order."],
    ]
    for key, c in controls.items():
        meaning = CONTROL_MEANING.get(key) or c.what
        name = CONTROL_NAMES.get(key, key.replace("_", " "))
        rows.append([name, _pct(c.value), _ci(c) if _has_interval(c) else "-", meaning])
    doc.add(table(["control", "test accuracy", "95% interval", "what it shows"], rows, ["l", "r", "l", "l"]))
    facts = []
    shuffled = controls["shuffled_order"].mean if "shuffled_order" in controls else None
    if is_finite(shuffled) and is_finite(oa.mean):
        facts.append(f"Shuffling the orders at test time changes the order-aware model's accuracy by "
                     f"{_pts(shuffled - oa.mean)} points ({_pct(oa.mean)} to {_pct(shuffled)}); "
                     f"the gain it is measured against is {_pts(bench.gain.mean)} points.")
    oo = controls["order_only"].accuracy if "order_only" in controls else None
    mc = controls["majority_class"].accuracy if "majority_class" in controls else None
    if is_finite(oo) and is_finite(mc):
        facts.append(f"The order alone scores {_pts(oo - mc)} points over the majority class.")
    if facts:
        doc.add(" ".join(facts))
    doc.add("Single-number controls (order-only, majority class) are deterministic given the split, so they have "
            "no interval over seeds; the shuffled-order interval is over seeds, like the models'.")


def _accuracy_plot(path: Path, bench: BenchmarkResult, seeds: list[str]) -> Path:
    labels, means, lows, highs, colors, notes = [], [], [], [], [], []
    for arm in ARMS:
        ci = bench.arm(arm).test_accuracy
        labels.append(ARM_NAMES[arm])
        means.append(ci.mean)
        lows.append(ci.low)
        highs.append(ci.high)
        colors.append(ARM_COLORS[arm])
        notes.append(f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}")
    for key, c in bench.controls.items():
        labels.append(CONTROL_LABELS.get(key, key.replace("_", " ")) + "\n(control)")
        means.append(c.value)
        lows.append(c.low)
        highs.append(c.high)
        colors.append(CONTROL_COLOR)
        notes.append("")
    clipped = [_clip(lo, hi) for lo, hi in zip(lows, highs)]
    lows, highs = [c[0] for c in clipped], [c[1] for c in clipped]
    return plots.bar_with_ci(path, labels, means, lows, highs, "Test accuracy of both models and the controls",
                             "test accuracy (95% interval over seeds)", notes=notes, colors=colors, ylim=(0.0, 1.18))


def _gain_plot(path: Path, bench: BenchmarkResult, seeds: list[str]) -> Path:
    """Gain in points: per image (Student-t and bootstrap) and per object, with each seed as a point.

    bar_with_ci has no room for the per-seed points, so this draws the same kind of figure with
    the plots module's figure, style and atomic save.
    """
    gain = bench.gain
    items: list[tuple[str, Any, bool]] = [("per image\nStudent-t over seeds", gain, True)]
    if gain.bootstrap is not None:
        items.append(("per image\nbootstrap over objects", gain.bootstrap, False))
    if bench.object_gain is not None:
        items.append(("per object\nStudent-t over seeds", bench.object_gain, True))
    fig = plots.figure(max(4.5, 1.6 * len(items) + 2.0), 4.2)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: the same benchmark gives the same picture
    values: list[float] = [0.0]
    for i, (_, ci, with_seeds) in enumerate(items):
        mean = 100 * ci.mean if is_finite(ci.mean) else math.nan
        if math.isfinite(mean):
            ax.bar(i, mean, width=0.55, color=GAIN_COLOR, alpha=0.35 if with_seeds else 0.25, zorder=2)
            values.append(mean)
        if math.isfinite(mean) and _has_interval(ci):
            lo, hi = 100 * ci.low, 100 * ci.high
            ax.errorbar(i, mean, yerr=[[mean - lo], [hi - mean]], color="#222222", capsize=6, linewidth=1.4, zorder=5)
            values += [lo, hi]
        if with_seeds:
            pts = [100 * v for v in _seed_values(ci, seeds) if is_finite(v)]
            if pts:
                xs = i + rng.uniform(-0.12, 0.12, size=len(pts))
                ax.scatter(xs, pts, s=30, color=GAIN_COLOR, edgecolors="white", linewidths=0.6, zorder=6)
                values += pts
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    ax.set_ylim(lo - 0.15 * span, hi + 0.22 * span)
    ax.axhline(0.0, color="#444444", linewidth=0.9, zorder=3)
    for i, (_, ci, with_seeds) in enumerate(items):
        if not is_finite(ci.mean):
            continue
        top = 100 * ci.high if _has_interval(ci) else 100 * ci.mean
        seeds_top = [100 * v for v in _seed_values(ci, seeds) if is_finite(v)] if with_seeds else []
        top = max([top, 100 * ci.mean, 0.0, *seeds_top])
        text = f"{100 * ci.mean:+.1f}"
        if _has_interval(ci):
            text += f"\n[{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"
        ax.text(i, top + 0.02 * span, text, ha="center", va="bottom", fontsize=9, color="#222222", zorder=7)
    ticks = [label if _has_interval(ci) or not by_seed else label.split("\n")[0] + "\none seed: no interval"
             for label, ci, by_seed in items]
    ax.set_xticks(range(len(items)), ticks)
    ax.set_xlim(-0.6, len(items) - 0.4)
    ax.set_ylabel("gain, accuracy points")
    ax.set_title("Order-aware minus image-only test accuracy (95% intervals)")
    fig.legend(handles=[Line2D([], [], marker="o", linestyle="", color=GAIN_COLOR, label="gain of one seed (paired)"),
                        Line2D([], [], color="#222222", linewidth=1.4, label="95% interval")],
               frameon=False, fontsize=8, loc="outside lower center", ncols=2)
    plots.style(ax)
    return plots.save(fig, path)


def _order_int(key: Any) -> int | None:
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _per_order_section(doc: Doc, bench: BenchmarkResult) -> None:
    per = {arm: bench.per_order.get(arm) or bench.arm(arm).per_order for arm in ARMS}
    keys = sorted({k for arm in ARMS for k in per[arm]}, key=lambda k: (_order_int(k) is None, _order_int(k) or 0, str(k)))
    if not keys:
        return
    # per_order's own "n" may count seeds rather than images; the search's best model records images per order.
    search = bench.searches.get("order_aware")
    counts = search.best.test_per_order if search is not None and search.best is not None else {}

    def images(k: str) -> Any:
        for arm in ARMS:
            if k in per[arm] and per[arm][k].images is not None:
                return per[arm][k].images
        return counts[k].n if k in counts else None

    def name(k: str) -> str:
        return order_name(_order_int(k)) if _order_int(k) is not None else str(k)

    doc.add("## Accuracy per upload order",
            "Upload position of each test photo: 1 = front, 2 = back, 3 = other, 0 = unknown. Mean over seeds, "
            "95% Student-t interval over seeds (clipped to [0%, 100%]). Few images per order make wide intervals.")
    rows = []
    for k in keys:
        a, b = per["image_only"].get(k), per["order_aware"].get(k)
        diff = b.mean - a.mean if a is not None and b is not None and is_finite(a.mean) and is_finite(b.mean) else None
        n = images(k)
        rows.append([k, name(k), n if n is not None else "-", _pct(_mean(a)), _ci(a),
                     _pct(_mean(b)), _ci(b), _pts(diff)])
    header = ["order", "meaning", "images", "image-only", "95% interval", "order-aware", "95% interval", "gain (points)"]
    doc.add(table(header, rows, ["r", "l", "r", "r", "l", "r", "l", "r"]))
    doc.plot("accuracy_by_order", "Test accuracy per upload order, both models", lambda p: plots.grouped_bars(
        p, [f"{name(k)} ({k})" for k in keys],
        {ARM_NAMES[arm]: [_mean(per[arm].get(k)) for k in keys] for arm in ARMS},
        "Test accuracy per upload order (mean over seeds)", "test accuracy", ylim=(0.0, 1.18)))


def _hp_rows(bests: dict[str, BestModel | None]) -> list[list[Any]]:
    shown = {}
    for arm in ARMS:
        hps = dict(bests[arm].hyperparameters) if bests[arm] is not None else {}
        f = freeze_of(hps)
        hps.pop(f"{hps.get(HP_BACKBONE)}/{HP_FREEZE}", None)  # shown as plain "freeze": cut points differ by backbone
        if f is not None:
            hps[HP_FREEZE] = f
        shown[arm] = visible_hps(hps)
    keys = [k for k in _HP_ORDER if any(k in shown[a] for a in ARMS)]
    for a in ARMS:
        for k in shown[a]:
            if k not in keys:
                keys.append(k)
    rows = []
    for k in keys:
        vals = [shown[a].get(k) for a in ARMS]
        differs = vals[0] != vals[1]
        cells = ["-" if v is None else (f"**{v}**" if differs else v) for v in vals]
        rows.append([k, *cells])
    return rows


def _best_section(doc: Doc, bench: BenchmarkResult) -> None:
    if not bench.searches:
        return
    s: dict[str, ArmSearch | None] = {arm: bench.searches.get(arm) for arm in ARMS}
    bests = {arm: s[arm].best if s[arm] is not None else None for arm in ARMS}
    doc.add("## The two searches and their best configurations",
            "Both searches had the same budget, split and space, except the order encoding: fixed to `none` for "
            "the image-only search, the order-aware encodings for the other. Validation and test accuracy here "
            "are those of each search's own best model (one training); the figures above are the retrainings "
            "over seeds. Values that differ between the two are in bold.")

    def field(arm: str, get: Any) -> Any:
        return get(bests[arm]) if bests[arm] is not None else "-"

    def trials_text(arm: str) -> str:
        trials = s[arm].trials if s[arm] is not None else []
        if not trials:
            return "-"
        bad = len(trials) - len(ranked(trials))
        return f"{len(trials)}" + (f" ({bad} failed or unscored)" if bad else "")

    def folder(arm: str) -> str:
        d = (s[arm].run_dir or arm) if s[arm] is not None else None
        return f"[{d}/]({d}/)" if d else "-"

    def budget(arm: str) -> str:
        a = s[arm]
        return f"{a.max_trials if a and a.max_trials is not None else '-'}, {a.epochs if a and a.epochs is not None else '-'}"

    rows: list[list[Any]] = [
        ["run folder", *[folder(a) for a in ARMS]],
        ["trials run", *[trials_text(a) for a in ARMS]],
        ["max trials, epochs", *[budget(a) for a in ARMS]],
        ["best trial", *[field(a, lambda b: b.trial) for a in ARMS]],
        ["validation accuracy", *[_pct(field(a, lambda b: b.val_accuracy)) for a in ARMS]],
        ["test accuracy (one training)", *[_pct(field(a, lambda b: b.test_accuracy)) for a in ARMS]],
    ]
    doc.add(table(["", *[ARM_NAMES[a] for a in ARMS]], rows + _hp_rows(bests), ["l", "l", "l"]))


def _trials_plot_section(doc: Doc, bench: BenchmarkResult) -> None:
    if not bench.searches:
        return
    cats, vals = [], []
    for arm in ARMS:
        search = bench.searches.get(arm)
        for t in search.trials if search is not None else []:
            cats.append(ARM_NAMES[arm] + " search")
            vals.append(t.val_accuracy if t.scored else math.nan)
    if not cats:
        return
    doc.add("### Every trial of both searches",
            "Each point is one trial's best validation accuracy; failed or unscored trials are not drawn but are "
            "counted under their search.")
    order = [ARM_NAMES[a] + " search" for a in ARMS]
    doc.plot("trials", "Validation accuracy of every trial of both searches", lambda p: plots.strip_by_category(
        p, cats, vals, "Validation accuracy of every trial", "validation accuracy", order=order,
        colors={ARM_NAMES[a] + " search": ARM_COLORS[a] for a in ARMS}))


def _provenance_section(doc: Doc, bench: BenchmarkResult, seeds: list[str]) -> None:
    doc.add("## Provenance")
    if bench.command:
        fence = "````" if "```" in bench.command else "```"
        doc.add("Made with:", f"{fence}sh\n{bench.command}\n{fence}")
    else:
        doc.add("The command that made this benchmark was not recorded.")
    rows: list[list[Any]] = [["seeds", ", ".join(seeds) or "-"]]
    if bench.date:
        rows.append(["date", bench.date])
    if is_finite(bench.seconds):
        s = float(bench.seconds)
        human = f" ({s / 3600:.1f} h)" if s >= 3600 else f" ({s / 60:.1f} min)" if s >= 60 else ""
        rows.append(["wall time", f"{s:.0f} s{human}"])
    for k, v in bench.machine.items():
        rows.append([f"machine: {k}", v])
    doc.add(table(["", "value"], rows, ["l", "l"]))
    if bench.versions:
        rows = [[k, v if v is not None else "not installed"] for k, v in bench.versions.items()]
        doc.add(table(["library", "version"], rows, ["l", "l"]))


def _method_section(doc: Doc, seeds: list[str]) -> None:
    doc.add("## How it was measured",
            "\n".join([
                "1. Two searches with the same budget and split: image-only (order encoding fixed to `none`) and "
                "order-aware (the configured order-aware encodings).",
                f"2. Each search's best configuration is retrained from scratch with each of the {len(seeds)} seeds "
                "and tested on the held-out test split, which neither search saw. Seed *s* of one model is paired "
                "with seed *s* of the other.",
                "3. Gain = order-aware minus image-only test accuracy: mean, 95% Student-t interval over the paired "
                "seeds, and 95% paired bootstrap interval over test objects (whole objects resampled, so the views "
                "of one object stay together).",
                "4. Controls: the order-aware model with orders shuffled across test images, an order-only model "
                "and the majority class.",
                "5. Accuracy per upload order and per object (views combined by summing log-probabilities).",
            ]))


def render_benchmark_report(bench_dir: str | Path) -> Path:
    """Write BENCH_DIR/report.md and BENCH_DIR/plots/*.png from BENCH_DIR/benchmark.json; returns report.md's path.

    Raises:
        RunError: the folder or its benchmark.json is missing or corrupt.
    """
    bench_dir = Path(bench_dir)
    bench = read_benchmark(bench_dir)
    seeds = bench.seed_names()
    doc = Doc(bench_dir)
    doc.add(f"# Does the upload order help? Benchmark: {md(bench_dir.resolve().name)}")
    _headline(doc, bench, seeds)
    for w in bench.warnings:
        doc.add(f"> **Warning**: {md(w)}")
    doc.plot("accuracy", "Test accuracy of both models and the controls", lambda p: _accuracy_plot(p, bench, seeds))
    _accuracy_section(doc, bench, seeds)
    _retrain_section(doc, bench, seeds)
    _controls_section(doc, bench)
    _per_order_section(doc, bench)
    _best_section(doc, bench)
    _trials_plot_section(doc, bench)
    _method_section(doc, seeds)
    dataset_section(doc, bench.dataset)
    _provenance_section(doc, bench, seeds)
    doc.add(f"<sub>Rendered by autoorder {__version__} from `{BENCHMARK_JSON}`.</sub>")
    path = bench_dir / REPORT
    write_text(path, doc.text())
    return path
