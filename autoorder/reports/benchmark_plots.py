"""The plots of a benchmark report: both arms and the controls, and the gains with every repeat and seed.

Like the rest of the report, drawn from benchmark.json alone (no TensorFlow). Intervals are drawn
as benchmark.json holds them: a protocol-2 accuracy interval lies in [0, 1] by construction.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.lines import Line2D

from autoorder.reports import plots
from autoorder.schema.benchmark import ARMS, BenchmarkResult, Interval
from autoorder.schema.results import is_finite

ARM_NAMES = {"image_only": "image-only", "order_aware": "order-aware"}
ARM_COLORS = {"image_only": plots.PALETTE[0], "order_aware": plots.PALETTE[1]}
GAIN_COLOR = plots.PALETTE[2]
CONTROL_COLOR = "#9a9a9a"
# Plot labels: broken by hand, as the default wrapping breaks only after '/' and '_'.
CONTROL_LABELS = {
    "shuffled_order": "shuffled order\nat test time",
    "architecture_only": "constant order\n(architecture)",
    "order_only": "order only",
    "majority_class": "majority\nclass",
}
LEVEL_LABELS = {"unknown": "orders\nunknown"}


def level_label(level: str) -> str:
    return LEVEL_LABELS.get(level, f"{level} objects\nout of order")


def accuracy_plot(path: Path, bench: BenchmarkResult) -> Path:
    """Both arms and every control, with their 95% intervals."""
    labels, means, lows, highs, colors = [], [], [], [], []

    def add(label: str, ci: Interval | None, color: str) -> None:
        labels.append(label)
        means.append(ci.mean if ci is not None else None)
        lows.append(ci.low if ci is not None else None)
        highs.append(ci.high if ci is not None else None)
        colors.append(color)

    for arm in ARMS:
        add(ARM_NAMES[arm], bench.arm(arm).test_accuracy, ARM_COLORS[arm])
    for key, c in bench.controls.items():
        if c.levels:
            for level, fig in c.levels.items():
                add(level_label(level) + "\n(control)", fig, CONTROL_COLOR)
        else:
            add(CONTROL_LABELS.get(key, key.replace("_", " ")) + "\n(control)", c, CONTROL_COLOR)
    return plots.bar_with_ci(path, labels, means, lows, highs, "Test accuracy of both models and the controls",
                             "test accuracy per photo (95% interval)", colors=colors, ylim=(0.0, 1.18))


def _points(values: Sequence[Any]) -> list[float]:
    return [100 * v for v in values if is_finite(v)]


def gain_items(bench: BenchmarkResult) -> list[tuple[str, Any, list[float]]]:
    """(label, interval, points) per gain drawn: per photo, per object, balanced; the points are
    the gain of each (repeat, seed) pair, or of each repeat where seeds are not kept."""
    seeds_gain = [g for r in bench.repeats for g in r.gain.values()]
    items: list[tuple[str, Any, list[float]]] = [("per photo", bench.gain, _points(seeds_gain))]
    if bench.gain.bootstrap is not None:
        items.append(("per photo\nbootstrap over objects\n(version 1)", bench.gain.bootstrap, []))
    if bench.object_gain is not None:
        obj = []
        for r in bench.repeats:
            io, oa = r.object_accuracy.get("image_only", {}), r.object_accuracy.get("order_aware", {})
            obj += [oa[s] - io[s] for s in oa if is_finite(oa.get(s)) and is_finite(io.get(s))]
        items.append(("per object", bench.object_gain, _points(obj)))
    if bench.balanced_gain is not None:
        items.append(("balanced (mean per class)\npoints: repeats", bench.balanced_gain, _points(bench.balanced_gain.per_repeat)))
    return items


def gain_plot(path: Path, bench: BenchmarkResult) -> Path:
    """Gains in points with their 95% intervals, each (repeat, seed) as a point.

    bar_with_ci has no room for the points, so this draws the same kind of figure with the
    plots module's figure, style and atomic save."""
    items = gain_items(bench)
    fig = plots.figure(max(4.5, 1.7 * len(items) + 2.0), 4.2)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: the same benchmark gives the same picture
    values: list[float] = [0.0]
    for i, (_, ci, pts) in enumerate(items):
        mean = 100 * ci.mean if is_finite(ci.mean) else math.nan
        if math.isfinite(mean):
            ax.bar(i, mean, width=0.55, color=GAIN_COLOR, alpha=0.35, zorder=2)
            values.append(mean)
        if math.isfinite(mean) and is_finite(ci.low) and is_finite(ci.high):
            lo, hi = 100 * ci.low, 100 * ci.high
            ax.errorbar(i, mean, yerr=[[mean - lo], [hi - mean]], color="#222222", capsize=6, linewidth=1.4, zorder=5)
            values += [lo, hi]
        if pts:
            ax.scatter(i + rng.uniform(-0.12, 0.12, size=len(pts)), pts, s=24, color=GAIN_COLOR, edgecolors="white",
                       linewidths=0.6, zorder=6)
            values += pts
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    ax.set_ylim(lo - 0.15 * span, hi + 0.25 * span)
    ax.axhline(0.0, color="#444444", linewidth=0.9, zorder=3)
    for i, (_, ci, pts) in enumerate(items):
        if not is_finite(ci.mean):
            continue
        top = max([100 * ci.mean, 0.0, *pts, *([100 * ci.high] if is_finite(ci.high) else [])])
        text = f"{100 * ci.mean:+.1f}"
        if is_finite(ci.low) and is_finite(ci.high):
            text += f"\n[{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"
        ax.text(i, top + 0.02 * span, text, ha="center", va="bottom", fontsize=9, color="#222222", zorder=7)
    ax.set_xticks(range(len(items)), [label for label, _, _ in items])
    ax.set_xlim(-0.6, len(items) - 0.4)
    ax.set_ylabel("gain, accuracy points")
    ax.set_title("Order-aware minus image-only test accuracy (95% intervals)")
    fig.legend(handles=[Line2D([], [], marker="o", linestyle="", color=GAIN_COLOR, label="one repeat and seed (paired)"),
                        Line2D([], [], color="#222222", linewidth=1.4, label="95% interval")],
               frameon=False, fontsize=8, loc="outside lower center", ncols=2)
    plots.style(ax)
    return plots.save(fig, path)


def grouped_accuracy_plot(path: Path, keys: list[str], names: list[str], per: dict[str, dict[str, Interval]], title: str) -> Path:
    """Both arms side by side for each key (an order value, a class)."""
    return plots.grouped_bars(
        path, names,
        {ARM_NAMES[arm]: [per[arm][k].mean if k in per[arm] else None for k in keys] for arm in ARMS},
        title, "test accuracy", ylim=(0.0, 1.18))


def trials_plot(path: Path, bench: BenchmarkResult) -> Path | None:
    cats, vals = [], []
    for rep in bench.repeats:
        for arm in ARMS:
            search = rep.searches.get(arm)
            for t in search.trials if search is not None else []:
                cats.append(ARM_NAMES[arm] + " search")
                vals.append(t.val_accuracy if t.scored else math.nan)
    if not cats:
        return None
    order = [ARM_NAMES[a] + " search" for a in ARMS]
    return plots.strip_by_category(path, cats, vals, "Validation accuracy of every trial", "validation accuracy", order=order,
                                   colors={ARM_NAMES[a] + " search": ARM_COLORS[a] for a in ARMS})
