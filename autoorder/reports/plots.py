"""Small matplotlib helpers for reports: one function, one PNG.

Figures are built with the object API on the Agg canvas (never pyplot), so rendering needs no
display, changes no global backend and leaves no figure open behind it. Every PNG is written
atomically. Accuracies are plotted as given (fractions in [0, 1]).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from autoorder.core.fileio import atomic_path
from autoorder.schema.results import TrialRecord, ranked

DPI = 120
FAILED_COLOR = "#b8b8b8"
TEXT_MUTED = "#666666"
# Colour-blind-friendly qualitative palette (Okabe-Ito, then tab10 for more categories).
PALETTE = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
]


def category_colors(names: Sequence[Any]) -> dict[Any, str]:
    """A stable colour per distinct name (sorted by its text), the same in every plot of a report."""
    distinct = sorted({n for n in names}, key=str)
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(distinct)}


def figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style(ax: Any, grid_axis: str = "y") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis=grid_axis, color="#e4e4e4", linewidth=0.8)
    ax.set_axisbelow(True)


def save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()
    return path


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def _wrap(label: Any, width: int = 20) -> str:
    """Break long identifiers (``mobilenet_v3_small/expanded_conv_6``) after '/' and '_'."""
    text = str(label)
    if len(text) <= width:
        return text
    lines, line = [], ""
    for piece in re.findall(r"[^/_]+[/_]?|[/_]", text):
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    lines.append(line)
    return "\n".join(lines)


def _value_limits(values: Sequence[float], ylim: tuple[float, float] | None, headroom: float = 0.12) -> tuple[float, float]:
    if ylim is not None:
        return ylim
    finite = [v for v in values if _finite(v)]
    if not finite:
        return (0.0, 1.0)
    lo, hi = min(0.0, min(finite)), max(finite)
    if 0.0 <= lo and hi <= 1.0:  # accuracies: a full 0..1 scale, plus room for the value labels
        return (0.0, 1.0 + headroom)
    span = (hi - lo) or 1.0
    return (lo - (headroom * span if lo < 0 else 0.0), hi + headroom * span)


def bar_with_ci(
    path: str | Path,
    labels: Sequence[str],
    means: Sequence[float],
    lows: Sequence[float | None] | None,
    highs: Sequence[float | None] | None,
    title: str,
    ylabel: str,
    *,
    notes: Sequence[str] | None = None,
    colors: Sequence[str] | None = None,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Vertical bars with optional 95% intervals (None where there is none) and value labels.

    `notes` adds a muted line under each value label (e.g. ``n=12``).
    """
    n = len(labels)
    fig = figure(max(4.0, 1.1 * n + 2.0), 4.2)
    ax = fig.add_subplot()
    x = np.arange(n)
    heights = [m if _finite(m) else 0.0 for m in means]
    colors = list(colors) if colors else [PALETTE[0]] * n
    ax.bar(x, heights, width=0.6, color=colors, alpha=0.9)
    # Where each value label goes: beyond the bar's end or its interval, away from zero.
    ends = [max(h, 0.0) for h in heights]
    starts = [min(h, 0.0) for h in heights]
    for i in range(n):
        lo = lows[i] if lows is not None else None
        hi = highs[i] if highs is not None else None
        if _finite(means[i]) and _finite(lo) and _finite(hi):
            ax.errorbar(x[i], means[i], yerr=[[means[i] - lo], [hi - means[i]]], color="#333333", capsize=5, linewidth=1.2)
            ends[i], starts[i] = max(ends[i], hi), min(starts[i], lo)
    ylo, yhi = _value_limits([*ends, *starts], ylim, headroom=0.18)
    if min(starts) < 0 and ylim is None:
        ylo -= 0.12 * (yhi - ylo)
    ax.set_ylim(ylo, yhi)
    if ylo < 0 < yhi:
        ax.axhline(0.0, color="#444444", linewidth=0.8)
    pad = 0.015 * (yhi - ylo)
    for i in range(n):
        text = _fmt(means[i]) if _finite(means[i]) else "n/a"
        if notes is not None and notes[i]:
            text += f"\n{notes[i]}"
        below = _finite(means[i]) and means[i] < 0
        ax.text(x[i], starts[i] - pad if below else ends[i] + pad, text, ha="center", va="top" if below else "bottom",
                fontsize=9, color="#222222" if _finite(means[i]) else TEXT_MUTED)
    ax.set_xticks(x, labels)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    style(ax)
    return save(fig, path)


def grouped_bars(
    path: str | Path,
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    ylabel: str,
    *,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One cluster of bars per group, one bar (and legend entry) per series; NaN leaves a gap."""
    names = list(series)
    k = max(len(names), 1)
    width = 0.8 / k
    fig = figure(max(5.0, len(groups) * (0.45 * k + 0.6) + 2.0), 4.4)
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    all_values = [v for vals in series.values() for v in vals]
    ylo, yhi = _value_limits(all_values, ylim, headroom=0.15)
    label_values = len(groups) * k <= 40
    for j, name in enumerate(names):
        vals = list(series[name])
        pos = x - 0.4 + width * (j + 0.5)
        heights = [v if _finite(v) else 0.0 for v in vals]
        ax.bar(pos, heights, width=width * 0.92, color=PALETTE[j % len(PALETTE)], label=name)
        for p, v in zip(pos, vals):
            if not _finite(v):
                ax.text(p, 0.01 * (yhi - ylo), "n/a", ha="center", va="bottom", fontsize=7, color=TEXT_MUTED)
            elif label_values:
                ax.text(p, max(v, 0.0) + 0.01 * (yhi - ylo), _fmt(v), ha="center", va="bottom", fontsize=8,
                        rotation=90 if k > 3 else 0)
    ax.set_ylim(ylo, yhi)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, ncols=min(k, 4), loc="upper left", fontsize=9)
    style(ax)
    return save(fig, path)


def strip_by_category(
    path: str | Path,
    categories: Sequence[Any],
    values: Sequence[float],
    title: str,
    ylabel: str,
    *,
    order: Sequence[Any] | None = None,
    xlabel: str | None = None,
    ylim: tuple[float, float] | None = None,
    colors: dict[Any, str] | None = None,
    point_label: str = "one trial",
) -> Path:
    """Every value as a jittered point above its category, with the category mean as a bar.

    `categories[i]` is the category of `values[i]`; non-finite values (failed trials) are not
    drawn but counted under their category's label. `order`
    fixes the categories shown and their order; `colors` maps a category to its colour.
    """
    pairs = [(c, float(v)) for c, v in zip(categories, values) if _finite(v)]
    missing: dict[Any, int] = {}
    for c, v in zip(categories, values):
        if not _finite(v):
            missing[c] = missing.get(c, 0) + 1
    if order is not None:
        cats = list(order)
    else:
        cats = sorted({c for c, _ in pairs} | set(missing), key=str)
    colors = {**category_colors(cats), **(colors or {})}
    slot = max(1.3, 0.085 * max((len(line) for c in cats for line in _wrap(c).splitlines()), default=0))
    fig = figure(max(4.5, slot * len(cats) + 1.5), 4.6)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: the same run gives the same picture
    ylo, yhi = _value_limits([v for _, v in pairs], ylim, headroom=0.12)
    ticks = []
    for i, c in enumerate(cats):
        ys = np.array([v for cc, v in pairs if cc == c])
        lost = missing.get(c, 0)
        count = f"{len(ys)} of {len(ys) + lost} scored" if lost else f"n={len(ys)}"
        if not len(ys):
            ticks.append(f"{_wrap(c)}\n{count}")
            ax.text(i, ylo + 0.02 * (yhi - ylo), "no score", ha="center", va="bottom", fontsize=9, color=TEXT_MUTED)
            continue
        mean = float(ys.mean())
        ticks.append(f"{_wrap(c)}\n{count}\nmean {_fmt(mean)}")
        xs = i + rng.uniform(-0.2, 0.2, size=len(ys))
        ax.scatter(xs, ys, s=36, color=colors[c], alpha=0.75, edgecolors="white", linewidths=0.6, zorder=4)
        ax.hlines(mean, i - 0.32, i + 0.32, color="#222222", linewidth=2.0, alpha=0.85, zorder=3)
    ax.set_ylim(ylo, yhi)
    ax.set_xlim(-0.6, len(cats) - 0.4)
    ax.set_xticks(range(len(cats)), ticks)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(
        handles=[Line2D([], [], color="#222222", linewidth=2, label="mean"),
                 Line2D([], [], marker="o", linestyle="", color=TEXT_MUTED, label=point_label)],
        frameon=False, fontsize=8, loc="upper right",
    )
    style(ax)
    return save(fig, path)


def _trial_label(t: TrialRecord, describe: Callable[[TrialRecord], str] | None) -> str:
    text = f"trial {t.id}"
    extra = describe(t) if describe else ""
    return f"{text}  {extra}" if extra else text


def ranked_trials(
    path: str | Path,
    trials: Sequence[TrialRecord],
    *,
    color_by: str = "order_encoding",
    describe: Callable[[TrialRecord], str] | None = None,
    colors: dict[Any, str] | None = None,
    top: int = 40,
    title: str = "Trials ranked by validation accuracy",
) -> Path:
    """Horizontal bars of val_accuracy per trial, best at top, coloured by hyperparameter `color_by`.

    Trials are results.json trial records. Failed trials (and those without a finite score) come
    last, greyed, with an x. `describe(trial) -> str` adds text to each trial's label; `colors`
    maps a `color_by` value to its colour (to match other plots).
    """
    good = ranked(list(trials))
    ids = {id(t) for t in good}
    bad = [t for t in trials if id(t) not in ids]
    shown_good = good[:top]
    shown_bad = bad[: max(5, top - len(shown_good))]
    shown = shown_good + shown_bad
    hidden = []
    if len(shown_good) < len(good):
        hidden.append(f"best {len(shown_good)} of {len(good)} scored")
    if len(shown_bad) < len(bad):
        hidden.append(f"{len(bad) - len(shown_bad)} more failed not shown")
    n = len(shown)
    keys = [t.hyperparameters.get(color_by) for t in good]
    colors = {**category_colors(keys), **(colors or {})}
    legend = {k: colors[k] for k in sorted(set(keys), key=str)}

    fig = figure(8.0, max(2.4, 0.34 * n + 1.5))
    ax = fig.add_subplot()
    y = np.arange(n)
    for i, t in enumerate(shown):
        score = t.objective_value
        if id(t) in ids:
            key = t.hyperparameters.get(color_by)
            ax.barh(i, score, height=0.7, color=colors[key])
            ax.annotate(_fmt(score), (score, i), xytext=(3, 0), textcoords="offset points", va="center", ha="left", fontsize=8.5)
        else:
            status = t.status.lower() or "failed"
            what = status if status != "completed" else "no score"
            ax.plot([0.0], [i], marker="x", color=FAILED_COLOR, markersize=8, markeredgewidth=2, clip_on=False, zorder=3)
            ax.annotate(what, (0.0, i), xytext=(9, 0), textcoords="offset points", va="center", ha="left",
                        fontsize=8.5, color=TEXT_MUTED)
    labels = [_trial_label(t, describe) for t in shown]
    ax.set_yticks(y, labels, fontsize=9)
    ax.tick_params(axis="y", length=0, pad=10 if bad else 4)  # room for the x of failed trials
    for tick, t in zip(ax.get_yticklabels(), shown):
        if id(t) not in ids:
            tick.set_color(TEXT_MUTED)
    ax.set_ylim(n - 0.5, -0.5)  # best at the top
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("validation accuracy")
    ax.set_title(title + (f" ({'; '.join(hidden)})" if hidden else ""))
    handles = [Patch(color=c, label=str(k)) for k, c in legend.items()]
    if bad:
        handles.append(Line2D([], [], marker="x", linestyle="", color=FAILED_COLOR, markeredgewidth=2, label="failed"))
    if handles:
        ax.legend(handles=handles, title=color_by.replace("_", " "), frameon=False, fontsize=8, title_fontsize=8,
                  loc="center left", bbox_to_anchor=(1.01, 0.5))
    style(ax, grid_axis="x")
    return save(fig, path)


def confusion_matrix(
    path: str | Path,
    classes: Sequence[str],
    matrix: Sequence[Sequence[int]],
    title: str,
) -> Path:
    """Counts in cells (rows: true class, columns: predicted), coloured by the row's share."""
    m = np.asarray(matrix, dtype=float).reshape(len(classes), len(classes))
    totals = m.sum(axis=1, keepdims=True)
    share = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    k = len(classes)
    side = min(18.0, max(4.2, 0.55 * k + 2.4))
    fig = figure(side + 1.0, side)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if k <= 30:
        small = k <= 12
        for i in range(k):
            for j in range(k):
                color = "white" if share[i, j] > 0.55 else "#222222"
                count = int(m[i, j])
                ax.text(j, i, str(count), ha="center", va="center", color=color,
                        fontsize=11 if small else 7, fontweight="bold" if i == j and count else "normal")
                if small and totals[i, 0] > 0 and count:
                    ax.text(j, i + 0.28, f"{100 * share[i, j]:.0f}%", ha="center", va="center", color=color, fontsize=7)
    rotate = any(len(str(c)) > 3 for c in classes) or k > 10
    ax.set_xticks(range(k), [str(c) for c in classes], rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks(range(k), [f"{c} (n={int(totals[i, 0])})" for i, c in enumerate(classes)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("share of the true class")
    return save(fig, path)
