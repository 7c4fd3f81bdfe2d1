"""The text the CLI prints for a search and a benchmark."""

from __future__ import annotations

from autoorder.schema.benchmark import BenchmarkResult
from autoorder.schema.results import RunResults


def format_hps(hps: dict) -> str:
    """`key=value, ...` without Keras Tuner's own bookkeeping (`tuner/...`)."""
    return ", ".join(f"{k}={v}" for k, v in hps.items() if not k.startswith("tuner/"))


def format_hps_short(hps: dict) -> str:
    """Only the active hyperparameters (inactive ones are None)."""
    return format_hps({k: v for k, v in hps.items() if v is not None})


def format_ranking(results: RunResults, top: int = 10) -> str:
    rows = results.ranked()
    label = "val_acc" if results.objective == "val_accuracy" else "val_bacc" if results.objective == "val_balanced_accuracy" else "score"
    lines = [f"{'rank':>4}  {'trial':>5}  {label:>7}  {'seconds':>7}  hyperparameters"]
    for i, t in enumerate(rows[:top], start=1):
        flag = "  COLLAPSED" if t.collapsed else ""
        lines.append(f"{i:>4}  {t.id:>5}  {t.objective_value:7.4f}  {t.seconds or 0:7.1f}  {format_hps(t.hyperparameters)}{flag}")
    failed = len(results.trials) - len(rows)
    if failed:
        lines.append(f"{failed} trial(s) failed or had no finite score (see trials.csv)")
    best = results.best
    if best is not None:
        ranked_by = f"  {results.objective} {best.score:.4f}" if results.objective != "val_accuracy" and best.score is not None else ""
        val = f"{best.val_accuracy:.4f}" if best.val_accuracy is not None else "-"
        lines.append(f"best: trial {best.trial}{ranked_by}  val_accuracy {val}  test_accuracy {best.test_accuracy:.4f} ({best.test_images} test images)")
    base = results.baseline.majority_class if results.baseline is not None else None
    if base is not None and base.test_accuracy is not None:
        lines.append(f"baseline: always {base.label!r} (most frequent training class)  val_accuracy {base.val_accuracy:.4f}  test_accuracy {base.test_accuracy:.4f}")
    lines += [f"warning: {w}" for w in results.warnings]
    lines += [f"warning: {w}" for w in (results.dataset.warnings if results.dataset is not None else [])]
    return "\n".join(lines)


def pct(ci: object, signed: bool = False) -> str:
    """Mean [interval] in percent (gains with a sign); intervals are printed as computed, never clipped."""
    fmt = "{:+.1f}" if signed else "{:.1f}"
    mean = getattr(ci, "mean", None)
    if mean is None:
        return "-"
    def f(x: float) -> str:
        return fmt.format(round(100 * x, 1) + 0.0)  # + 0.0: no "-0.0"

    txt = f(mean)
    lo, hi = getattr(ci, "low", None), getattr(ci, "high", None)
    if lo is not None and hi is not None:
        txt += f" [{f(lo)}, {f(hi)}]"
    return txt


NONCOMPLIANCE_NAMES = {"unknown": "every order unknown (0)"}


def format_benchmark(r: BenchmarkResult) -> str:
    g = r.gain
    seeds = sorted(set(r.seeds_per_repeat()))
    k = r.n_repeats
    over = (f"{k} repeat{'s' if k != 1 else ''} x {'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''}")
    how = ("hierarchical bootstrap over repeats, seeds and test objects" if k >= 2
           else "bootstrap over seeds and test objects of one split and search")
    if r.protocol < 2:
        how = "Student-t over seeds (version 1)"
    verdict = "" if g.excludes_zero else "  (interval includes zero)"
    p_pos = f", P(gain > 0) = {g.p_positive:.3f}" if g.p_positive is not None else ""
    lines = [
        f"test accuracy, % (mean over {over}; 95% interval: {how}):",
        f"  image-only   {pct(r.image_only.test_accuracy)}",
        f"  order-aware  {pct(r.order_aware.test_accuracy)}",
        f"  gain         {pct(g, signed=True)} points{p_pos}{verdict}",
    ]
    io_obj, oa_obj = r.image_only.object_accuracy, r.order_aware.object_accuracy
    if io_obj is not None and oa_obj is not None:
        lines.append(f"  per object   image-only {pct(io_obj)}, order-aware {pct(oa_obj)}")
    io_bal, oa_bal = r.image_only.balanced_accuracy, r.order_aware.balanced_accuracy
    if io_bal is not None and oa_bal is not None:
        lines.append(f"  balanced     image-only {pct(io_bal)}, order-aware {pct(oa_bal)}")
    lines.append("controls:")
    c = r.controls
    named = [("shuffled_order", "shuffled order at test"), ("architecture_only", "constant order (architecture only)")]
    for key, name in named:
        if key in c:
            lines.append(f"  {name:<36}{pct(c[key])}")
    if "noncompliance" in c:
        for level, fig in c["noncompliance"].levels.items():
            name = NONCOMPLIANCE_NAMES.get(level, f"orders of {level} of objects permuted")
            lines.append(f"  {name:<36}{pct(fig)}")
    for key, name in (("order_only", "order only"), ("majority_class", "majority class")):
        if key in c:
            lines.append(f"  {name:<36}{pct(c[key])}")
    v = r.view_classifier
    if v is not None and v.accuracy is not None:
        chance = f" (always the most frequent: {100 * v.chance:.1f}%)" if v.chance is not None else ""
        lines.append(f"view classifier: tells the order from one photo's pixels for {100 * v.accuracy:.1f}% of test photos{chance}")
    lines += [f"warning: {w}" for w in r.warnings]
    return "\n".join(lines)


def format_evaluation(ev: dict) -> str:
    """The summary `autoorder evaluate` prints: overall, per class, per order, per object, confusion."""
    lines = [
        f"{ev['images']} images: accuracy {ev['accuracy']:.4f}  balanced accuracy {ev['balanced_accuracy']:.4f}",
    ]
    obj = ev.get("per_object")
    if obj:
        lines.append(f"{obj['objects']} objects (views combined): accuracy {obj['accuracy']:.4f}  balanced accuracy {obj['balanced_accuracy']:.4f}")
    width = max(len("class"), *(len(c) for c in ev["per_class"]))
    lines.append(f"{'class':<{width}}  precision  recall      f1  support")
    for c, m in ev["per_class"].items():
        lines.append(f"{c:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  {m['support']:7d}")
    orders = [f"{'unknown' if o == '0' else o}: {m['accuracy']:.4f} (n={m['n']})" for o, m in ev["per_order"].items()]
    lines.append("per order: " + ", ".join(orders))
    cm = ev["confusion_matrix"]
    labels = [str(c) for c in cm["labels"]]
    cell = max(5, *(len(c) for c in labels), *(len(str(v)) for row in cm["matrix"] for v in row))
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines.append(" " * (width + 2) + " ".join(f"{c:>{cell}}" for c in labels))
    for c, row in zip(labels, cm["matrix"]):
        lines.append(f"{c:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
