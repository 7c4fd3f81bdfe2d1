"""`report.md` and `plots/*.png` for a benchmark folder, from its benchmark.json alone.

The report answers one question first (does the upload order help, by how much, how sure are
we), then shows the figures behind the answer: both arms per seed, per object and per order,
the controls, the two best configurations and every trial of both searches. Like the search
report, it never imports TensorFlow or Keras.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.lines import Line2D

from autoorder import __version__, plots
from autoorder.benchmark import ARMS, BENCHMARK_JSON
from autoorder.config import (
    HP_BACKBONE, HP_DROPOUT, HP_ENCODING, HP_FREEZE, HP_HEAD_DEPTH, HP_HEAD_WIDTH, HP_LEARNING_RATE,
)
from autoorder.errors import RunError
from autoorder.fileio import read_json, write_text
from autoorder.report import REPORT, _dataset_section, _Doc, _md, _table, freeze_of, order_name, visible_hps
from autoorder.results import is_finite, ranked

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


# ----- formatting ------------------------------------------------------------------------------
def _pct(x: Any) -> str:
    """An accuracy (fraction) as a percentage."""
    return f"{100 * x:.1f}%" if is_finite(x) else "-"


def _pts(x: Any) -> str:
    """A difference of accuracies (fraction) in signed percentage points."""
    return f"{100 * x:+.1f}" if is_finite(x) else "-"


def _ci(ci: Any, fmt=_pct) -> str:
    """`[low, high]`; an accuracy interval is clipped to [0%, 100%] (Student-t is symmetric, accuracy is not)."""
    if not _has_interval(ci):
        return "n/a"
    lo, hi = _clip(ci["low"], ci["high"]) if fmt is _pct else (ci["low"], ci["high"])
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _ci_prose(ci: Any, fmt=_pct) -> str:
    """` [low, high]` after a number in a sentence, or nothing when there is no interval."""
    return f" {_ci(ci, fmt)}" if _has_interval(ci) else ""


def _clip(low: Any, high: Any) -> tuple[Any, Any]:
    return (max(0.0, low) if is_finite(low) else low, min(1.0, high) if is_finite(high) else high)


def _has_interval(ci: Any) -> bool:
    return isinstance(ci, dict) and is_finite(ci.get("low")) and is_finite(ci.get("high"))


def _includes_zero(ci: dict) -> bool:
    return ci["low"] <= 0.0 <= ci["high"]


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _seed_values(ci: Any, seeds: Sequence[str]) -> list[Any]:
    per = ci.get("per_seed") if isinstance(ci, dict) else None
    per = per if isinstance(per, dict) else {}
    return [per.get(s) for s in seeds]


# ----- reading -----------------------------------------------------------------------------------
def _load(bench_dir: Path) -> dict:
    path = bench_dir / BENCHMARK_JSON
    if not bench_dir.is_dir():
        raise RunError(
            f"Benchmark folder {str(bench_dir)!r} does not exist. Expected the --out folder of `autoorder benchmark`."
        )
    bench = read_json(path, "benchmark file")
    missing = [k for k in (*ARMS, "gain") if not isinstance(_get(bench, k), dict)]
    if not missing and not is_finite(_get(bench, "gain", "mean")):
        missing = ["gain.mean"]
    if not isinstance(bench, dict) or missing:
        got = f"a JSON {type(bench).__name__}" if not isinstance(bench, dict) else f"no usable {', '.join(missing)}"
        raise RunError(
            f"The benchmark file {str(path)!r} is not an autoorder benchmark result: expected a JSON object with "
            f"'image_only', 'order_aware' and 'gain'. Got {got} instead. Rerun `autoorder benchmark` to write it again."
        )
    return bench


def _seeds(bench: dict) -> list[str]:
    seeds = bench.get("seeds")
    if isinstance(seeds, list) and seeds:
        return [str(s) for s in seeds]
    per = _get(bench, "gain", "per_seed")
    return list(per) if isinstance(per, dict) else []


def _test_images(bench: dict) -> Any:
    n = _get(bench, "dataset", "images_per_split", "test")
    return n if n is not None else _get(bench, "searches", "order_aware", "best", "test_images")


# ----- sections ----------------------------------------------------------------------------------
def _verdict(gain: dict, n_seeds: int) -> str:
    """The headline sentence: the gain, its main 95% interval, and whether that interval includes zero."""
    boot = gain.get("bootstrap") if isinstance(gain.get("bootstrap"), dict) else {}
    mean = gain["mean"]
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
    elif ci["low"] > 0:
        text = (f"**Yes.** Knowing the upload order raises test accuracy by **{_pts(mean)} points**: "
                f"{interval} lies entirely above zero.")
    else:
        text = (f"**No, it hurts.** The order-aware model is **{100 * abs(mean):.1f} points** less accurate than the "
                f"image-only one: {interval} lies entirely below zero.")
    return text + note


def _headline(doc: _Doc, bench: dict, seeds: list[str]) -> None:
    gain = bench["gain"]
    doc.add(_verdict(gain, len(seeds)))
    io_, oa = _get(bench, "image_only", "test_accuracy") or {}, _get(bench, "order_aware", "test_accuracy") or {}
    n_img, n_obj = _test_images(bench), _get(bench, "order_aware", "object_accuracy", "objects")
    on = f" on {n_img} test images" if n_img is not None else ""
    on += f" ({n_obj} objects)" if n_obj is not None else ""
    bullets = [
        f"Test accuracy{on}, mean of {len(seeds)} retraining{'s' if len(seeds) != 1 else ''} of each search's best "
        f"configuration: order-aware **{_pct(oa.get('mean'))}**{_ci_prose(oa)}, "
        f"image-only **{_pct(io_.get('mean'))}**{_ci_prose(io_)}."
    ]
    boot = gain.get("bootstrap")
    if _has_interval(boot):
        side = "is above zero" if boot["low"] > 0 else "is below zero"
        if _includes_zero(boot):
            side = "includes zero"
            if _has_interval(gain) and not _includes_zero(gain):
                side += ", so the result depends on which objects happen to be in the test split: treat it as tentative"
        objs = f"the {n_obj} test objects" if n_obj is not None else "test objects"
        bullets.append(f"Paired bootstrap over {objs} (views of one object kept together, {boot.get('reps', '?')} "
                       f"resamples): {_ci(boot, _pts)} points; this interval {side}.")
    og = bench.get("object_gain")
    if isinstance(og, dict) and is_finite(og.get("mean")):
        side = ""
        if _has_interval(og):
            where = "includes zero" if _includes_zero(og) else ("is above zero" if og["low"] > 0 else "is below zero")
            side = f"; its interval {where}"
        bullets.append(f"Per object (an object's views combined by summing log-probabilities), the gain is "
                       f"{_pts(og['mean'])} points{_ci_prose(og, _pts)}{side}.")
    per = _seed_values(gain, seeds)
    if any(is_finite(v) for v in per):
        bullets.append("Gain per seed: " + ", ".join(f"seed {s}: {_pts(v)}" for s, v in zip(seeds, per)) + " points.")
    doc.add("\n".join(f"- {b}" for b in bullets))
    doc.add("Points are percentage points of test accuracy. Seed *s* of one model is paired with seed *s* of the "
            "other: same split, same seed. The Student-t interval reflects training randomness (initialisation, "
            "batches) on this one split; the bootstrap reflects which objects happen to be in the test split. "
            "Neither covers another split, another search budget or another dataset.")


def _seed_table(rows: list[tuple[str, Any, str]], seeds: list[str]) -> str:
    """rows: (label, mean_ci dict with per_seed, 'pct' for an accuracy or 'pts' for a gain)."""
    wide = len(seeds) <= _MAX_SEED_COLUMNS
    header = ["", "mean", "95% interval"] + ([f"seed {s}" for s in seeds] if wide else ["per seed"])
    align = ["l", "r", "l"] + (["r"] * len(seeds) if wide else ["l"])
    out = []
    for label, ci, fmt in rows:
        f = _pct if fmt == "pct" else _pts
        ci = ci if isinstance(ci, dict) else {}
        vals = [f(v) for v in _seed_values(ci, seeds)]
        out.append([label, f(ci.get("mean")), _ci(ci, f), *(vals if wide else [", ".join(vals)])])
    return _table(header, out, align)


def _accuracy_section(doc: _Doc, bench: dict, seeds: list[str]) -> None:
    doc.add("## Test accuracy")
    n_img = _test_images(bench)
    gain = bench["gain"]
    rows = [
        ("image-only", _get(bench, "image_only", "test_accuracy"), "pct"),
        ("order-aware", _get(bench, "order_aware", "test_accuracy"), "pct"),
        ("gain (points)", gain, "pts"),
    ]
    doc.add("### Per image" + (f" ({n_img} test images)" if n_img is not None else ""),
            "Intervals: 95% Student-t over seeds, clipped to [0%, 100%] for accuracies; the gain is paired by seed."
            + (" With a single seed there is none (n/a)." if len(seeds) < 2 else ""),
            _seed_table(rows, seeds))
    boot = gain.get("bootstrap")
    if _has_interval(boot):
        doc.add(f"Gain, 95% paired bootstrap over test objects ({boot.get('reps', '?')} resamples of whole objects, "
                f"correctness averaged over seeds): {_pts(boot.get('mean'))} points {_ci(boot, _pts)}.")
    n_obj = _get(bench, "order_aware", "object_accuracy", "objects")
    rows = [
        ("image-only", _get(bench, "image_only", "object_accuracy"), "pct"),
        ("order-aware", _get(bench, "order_aware", "object_accuracy"), "pct"),
        ("gain (points)", bench.get("object_gain"), "pts"),
    ]
    doc.add("### Per object" + (f" ({n_obj} test objects)" if n_obj is not None else ""),
            "An object's views are combined by summing their log-probabilities; the object is right when the "
            "class with the largest sum is its label.",
            _seed_table(rows, seeds))
    doc.plot("gain", "Gain of the order-aware model over the image-only one, with 95% intervals and per-seed points",
             lambda p: _gain_plot(p, bench, seeds))


def _controls_section(doc: _Doc, bench: dict) -> None:
    controls = bench.get("controls")
    if not isinstance(controls, dict) or not controls:
        return
    doc.add("## Controls",
            "Each control takes information away from the models; read each against the two models above.")
    oa = _get(bench, "order_aware", "test_accuracy") or {}
    io_ = _get(bench, "image_only", "test_accuracy") or {}
    rows = [
        ["order-aware model (reference)", _pct(oa.get("mean")), _ci(oa), "The model under test, with the true orders."],
        ["image-only model (reference)", _pct(io_.get("mean")), _ci(io_), "The best model that never sees the order."],
    ]
    for key, c in controls.items():
        if not isinstance(c, dict):
            continue
        acc = c.get("mean", c.get("accuracy"))
        meaning = CONTROL_MEANING.get(key) or str(c.get("what") or "")
        name = CONTROL_NAMES.get(key, key.replace("_", " "))
        rows.append([name, _pct(acc), _ci(c) if _has_interval(c) else "-", meaning])
    doc.add(_table(["control", "test accuracy", "95% interval", "what it shows"], rows, ["l", "r", "l", "l"]))
    facts = []
    shuffled = _get(controls, "shuffled_order", "mean")
    if is_finite(shuffled) and is_finite(oa.get("mean")):
        facts.append(f"Shuffling the orders at test time changes the order-aware model's accuracy by "
                     f"{_pts(shuffled - oa['mean'])} points ({_pct(oa['mean'])} to {_pct(shuffled)}); "
                     f"the gain it is measured against is {_pts(bench['gain']['mean'])} points.")
    oo, mc = _get(controls, "order_only", "accuracy"), _get(controls, "majority_class", "accuracy")
    if is_finite(oo) and is_finite(mc):
        facts.append(f"The order alone scores {_pts(oo - mc)} points over the majority class.")
    if facts:
        doc.add(" ".join(facts))
    doc.add("Single-number controls (order-only, majority class) are deterministic given the split, so they have "
            "no interval over seeds; the shuffled-order interval is over seeds, like the models'.")


def _accuracy_plot(path: Path, bench: dict, seeds: list[str]) -> Path:
    labels, means, lows, highs, colors, notes = [], [], [], [], [], []
    for arm in ARMS:
        ci = _get(bench, arm, "test_accuracy") or {}
        labels.append(ARM_NAMES[arm])
        means.append(ci.get("mean"))
        lows.append(ci.get("low"))
        highs.append(ci.get("high"))
        colors.append(ARM_COLORS[arm])
        notes.append(f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}")
    for key, c in (bench.get("controls") or {}).items():
        if not isinstance(c, dict):
            continue
        labels.append(CONTROL_LABELS.get(key, key.replace("_", " ")) + "\n(control)")
        means.append(c.get("mean", c.get("accuracy")))
        lows.append(c.get("low"))
        highs.append(c.get("high"))
        colors.append(CONTROL_COLOR)
        notes.append("")
    clipped = [_clip(lo, hi) for lo, hi in zip(lows, highs)]
    lows, highs = [c[0] for c in clipped], [c[1] for c in clipped]
    return plots.bar_with_ci(path, labels, means, lows, highs, "Test accuracy of both models and the controls",
                             "test accuracy (95% interval over seeds)", notes=notes, colors=colors, ylim=(0.0, 1.18))


def _gain_plot(path: Path, bench: dict, seeds: list[str]) -> Path:
    """Gain in points: per image (Student-t and bootstrap) and per object, with each seed as a point.

    bar_with_ci has no room for the per-seed points, so this draws the same kind of figure with
    the plots module's figure, style and atomic save.
    """
    gain = bench["gain"]
    items: list[tuple[str, dict, bool]] = [("per image\nStudent-t over seeds", gain, True)]
    if isinstance(gain.get("bootstrap"), dict):
        items.append(("per image\nbootstrap over objects", gain["bootstrap"], False))
    if isinstance(bench.get("object_gain"), dict):
        items.append(("per object\nStudent-t over seeds", bench["object_gain"], True))
    fig = plots._figure(max(4.5, 1.6 * len(items) + 2.0), 4.2)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: the same benchmark gives the same picture
    values: list[float] = [0.0]
    for i, (_, ci, with_seeds) in enumerate(items):
        mean = 100 * ci["mean"] if is_finite(ci.get("mean")) else math.nan
        if math.isfinite(mean):
            ax.bar(i, mean, width=0.55, color=GAIN_COLOR, alpha=0.35 if with_seeds else 0.25, zorder=2)
            values.append(mean)
        if math.isfinite(mean) and _has_interval(ci):
            lo, hi = 100 * ci["low"], 100 * ci["high"]
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
    for i, (_, ci, _) in enumerate(items):
        if not is_finite(ci.get("mean")):
            continue
        top = 100 * ci["high"] if _has_interval(ci) else 100 * ci["mean"]
        seeds_top = [100 * v for v in _seed_values(ci, seeds) if is_finite(v)] if items[i][2] else []
        top = max([top, 100 * ci["mean"], 0.0, *seeds_top])
        text = f"{100 * ci['mean']:+.1f}"
        if _has_interval(ci):
            text += f"\n[{100 * ci['low']:+.1f}, {100 * ci['high']:+.1f}]"
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
    plots._style(ax)
    return plots._save(fig, path)


def _order_int(key: Any) -> int | None:
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _per_order_section(doc: _Doc, bench: dict) -> None:
    per = bench.get("per_order")
    if not isinstance(per, dict):
        per = {arm: _get(bench, arm, "per_order") for arm in ARMS}
    per = {arm: (per.get(arm) if isinstance(per.get(arm), dict) else {}) for arm in ARMS}
    keys = sorted({k for arm in ARMS for k in per[arm]}, key=lambda k: (_order_int(k) is None, _order_int(k) or 0, str(k)))
    if not keys:
        return
    # per_order's own "n" may count seeds rather than images; the search's best model records images per order.
    counts = _get(bench, "searches", "order_aware", "best", "test_per_order") or {}

    def images(k: str) -> Any:
        for arm in ARMS:
            if isinstance(per[arm].get(k), dict) and per[arm][k].get("images") is not None:
                return per[arm][k]["images"]
        return _get(counts, k, "n") if isinstance(counts, dict) else None

    def name(k: str) -> str:
        return order_name(_order_int(k)) if _order_int(k) is not None else str(k)

    doc.add("## Accuracy per upload order",
            "Upload position of each test photo: 1 = front, 2 = back, 3 = other, 0 = unknown. Mean over seeds, "
            "95% Student-t interval over seeds (clipped to [0%, 100%]). Few images per order make wide intervals.")
    rows = []
    for k in keys:
        a, b = per["image_only"].get(k) or {}, per["order_aware"].get(k) or {}
        diff = b.get("mean") - a.get("mean") if is_finite(a.get("mean")) and is_finite(b.get("mean")) else None
        n = images(k)
        rows.append([k, name(k), n if n is not None else "-", _pct(a.get("mean")), _ci(a),
                     _pct(b.get("mean")), _ci(b), _pts(diff)])
    header = ["order", "meaning", "images", "image-only", "95% interval", "order-aware", "95% interval", "gain (points)"]
    doc.add(_table(header, rows, ["r", "l", "r", "r", "l", "r", "l", "r"]))
    doc.plot("accuracy_by_order", "Test accuracy per upload order, both models", lambda p: plots.grouped_bars(
        p, [f"{name(k)} ({k})" for k in keys],
        {ARM_NAMES[arm]: [_get(per[arm], k, "mean") for k in keys] for arm in ARMS},
        "Test accuracy per upload order (mean over seeds)", "test accuracy", ylim=(0.0, 1.18)))


def _hp_rows(bests: dict[str, dict]) -> list[list[Any]]:
    shown = {}
    for arm in ARMS:
        hps = dict(_get(bests[arm], "hyperparameters") or {})
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


def _best_section(doc: _Doc, bench: dict) -> None:
    searches = bench.get("searches")
    if not isinstance(searches, dict):
        return
    s = {arm: searches.get(arm) if isinstance(searches.get(arm), dict) else {} for arm in ARMS}
    bests = {arm: s[arm].get("best") if isinstance(s[arm].get("best"), dict) else {} for arm in ARMS}
    doc.add("## The two searches and their best configurations",
            "Both searches had the same budget, split and space, except the order encoding: fixed to `none` for "
            "the image-only search, the order-aware encodings for the other. Validation and test accuracy here "
            "are those of each search's own best model (one training); the figures above are the retrainings "
            "over seeds. Values that differ between the two are in bold.")
    rows: list[list[Any]] = []

    def trials_text(arm: str) -> str:
        trials = [t for t in (s[arm].get("trials") or []) if isinstance(t, dict)]
        if not trials:
            return "-"
        bad = len(trials) - len(ranked(trials))
        return f"{len(trials)}" + (f" ({bad} failed or unscored)" if bad else "")

    rows.append(["run folder", *[f"[{s[a].get('run_dir', a)}/]({s[a].get('run_dir', a)}/)" if s[a] else "-"
                                 for a in ARMS]])
    rows.append(["trials run", *[trials_text(a) for a in ARMS]])
    rows.append(["max trials, epochs", *[f"{s[a].get('max_trials', '-')}, {s[a].get('epochs', '-')}" for a in ARMS]])
    rows.append(["best trial", *[bests[a].get("trial", "-") for a in ARMS]])
    rows.append(["validation accuracy", *[_pct(bests[a].get("val_accuracy")) for a in ARMS]])
    rows.append(["test accuracy (one training)", *[_pct(bests[a].get("test_accuracy")) for a in ARMS]])
    doc.add(_table(["", *[ARM_NAMES[a] for a in ARMS]], rows + _hp_rows(bests), ["l", "l", "l"]))


def _trials_plot_section(doc: _Doc, bench: dict) -> None:
    searches = bench.get("searches")
    if not isinstance(searches, dict):
        return
    cats, vals = [], []
    for arm in ARMS:
        for t in _get(searches, arm, "trials") or []:
            if not isinstance(t, dict):
                continue
            ok = t.get("status") == "COMPLETED" and is_finite(t.get("val_accuracy"))
            cats.append(ARM_NAMES[arm] + " search")
            vals.append(t["val_accuracy"] if ok else math.nan)
    if not cats:
        return
    doc.add("### Every trial of both searches",
            "Each point is one trial's best validation accuracy; failed or unscored trials are not drawn but are "
            "counted under their search.")
    order = [ARM_NAMES[a] + " search" for a in ARMS]
    doc.plot("trials", "Validation accuracy of every trial of both searches", lambda p: plots.strip_by_category(
        p, cats, vals, "Validation accuracy of every trial", "validation accuracy", order=order,
        colors={ARM_NAMES[a] + " search": ARM_COLORS[a] for a in ARMS}))


def _provenance_section(doc: _Doc, bench: dict, seeds: list[str]) -> None:
    doc.add("## Provenance")
    command = bench.get("command")
    if command:
        fence = "````" if "```" in str(command) else "```"
        doc.add("Made with:", f"{fence}sh\n{command}\n{fence}")
    else:
        doc.add("The command that made this benchmark was not recorded.")
    rows: list[list[Any]] = [["seeds", ", ".join(seeds) or "-"]]
    if bench.get("date"):
        rows.append(["date", bench["date"]])
    if is_finite(bench.get("seconds")):
        s = float(bench["seconds"])
        human = f" ({s / 3600:.1f} h)" if s >= 3600 else f" ({s / 60:.1f} min)" if s >= 60 else ""
        rows.append(["wall time", f"{s:.0f} s{human}"])
    machine = bench.get("machine")
    if isinstance(machine, dict):
        for k, v in machine.items():
            rows.append([f"machine: {k}", v])
    doc.add(_table(["", "value"], rows, ["l", "l"]))
    versions = bench.get("versions")
    if isinstance(versions, dict) and versions:
        rows = [[k, v if v is not None else "not installed"] for k, v in versions.items()]
        doc.add(_table(["library", "version"], rows, ["l", "l"]))


def _method_section(doc: _Doc, seeds: list[str]) -> None:
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
    bench = _load(bench_dir)
    seeds = _seeds(bench)
    doc = _Doc(bench_dir)
    doc.add(f"# Does the upload order help? Benchmark: {_md(bench_dir.resolve().name)}")
    _headline(doc, bench, seeds)
    doc.plot("accuracy", "Test accuracy of both models and the controls", lambda p: _accuracy_plot(p, bench, seeds))
    _accuracy_section(doc, bench, seeds)
    _controls_section(doc, bench)
    _per_order_section(doc, bench)
    _best_section(doc, bench)
    _trials_plot_section(doc, bench)
    _method_section(doc, seeds)
    if isinstance(bench.get("dataset"), dict):
        _dataset_section(doc, bench["dataset"])
    _provenance_section(doc, bench, seeds)
    doc.add(f"<sub>Rendered by autoorder {__version__} from `{BENCHMARK_JSON}`.</sub>")
    path = bench_dir / REPORT
    write_text(path, doc.text())
    return path

