"""`report.md` and `plots/*.png` for a benchmark folder, from its benchmark.json alone.

The report answers one question first (does the upload order help, by how much, how sure are
we, and over what the interval ranges), then shows the figures behind the answer: both arms per
repeat and seed, per photo, per object, per class and per order, the controls, the view
classifier, the chosen configurations and every trial. Like the search report, it reads through
`autoorder.schema` and never imports TensorFlow or Keras. A version-1 benchmark.json (the old
protocol) renders too, saying what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoorder.core.config import HP_BACKBONE, HP_DROPOUT, HP_ENCODING, HP_FREEZE, HP_HEAD_DEPTH, HP_HEAD_WIDTH, HP_LEARNING_RATE
from autoorder.core.fileio import write_text
from autoorder.core.version import __version__
from autoorder.reports import benchmark_plots as P
from autoorder.reports.markdown import REPORT, Doc, dataset_section, freeze_of, hps_text, md, order_name, table, visible_hps
from autoorder.schema.benchmark import ARMS, BENCHMARK_JSON, BenchmarkResult, Interval, read_benchmark
from autoorder.schema.results import BestModel, is_finite, ranked

ARM_NAMES = P.ARM_NAMES
CONTROL_NAMES = {
    "shuffled_order": "shuffled order at test time",
    "architecture_only": "constant order (architecture only)",
    "order_only": "order-only model",
    "majority_class": "majority class",
}
# What each control shows, in one line (the benchmark.json `what` says how it was made).
CONTROL_MEANING = {
    "shuffled_order": "The order-aware model with the orders permuted across test photos. If the model really uses "
                      "the order, accuracy falls (often below image-only, as the orders now mislead it); if it "
                      "does not fall, the gain does not come from the order.",
    "architecture_only": "The order-aware configuration trained and tested with one constant order for every photo: its "
                         "architecture (FiLM, gates, embeddings, head) without the order's information. Above image-only, "
                         "part of the gain is the architecture, not the order.",
    "order_only": "The majority label of each order value in train: all the order says about the class by "
                  "itself. At the majority-class level, any gain must come from reading the image in the light of "
                  "its order.",
    "majority_class": "Always the most frequent label in train: the floor any model must beat.",
}
LEVEL_NAMES = {"unknown": "every order unknown (0)"}
LEVEL_MEANING = {"unknown": "The order-aware model when no photo's order is known (0): how it fails without the order."}
_HP_ORDER = (HP_BACKBONE, HP_FREEZE, HP_HEAD_DEPTH, HP_HEAD_WIDTH, HP_DROPOUT, HP_ENCODING, HP_LEARNING_RATE)
_MAX_COLUMNS = 8


# ----- formatting ------------------------------------------------------------------------------
def _pct(x: Any) -> str:
    """An accuracy (fraction) as a percentage."""
    return f"{100 * x:.1f}%" if is_finite(x) else "-"


def _pts(x: Any) -> str:
    """A difference of accuracies (fraction) in signed percentage points."""
    return f"{round(100 * x, 1) + 0.0:+.1f}" if is_finite(x) else "-"  # + 0.0: no "-0.0"


def _has(ci: Any) -> bool:
    return ci is not None and is_finite(getattr(ci, "low", None)) and is_finite(getattr(ci, "high", None))


def _ci(ci: Any, fmt=_pct) -> str:
    """`[low, high]` as benchmark.json holds them (never clipped), or n/a."""
    return f"[{fmt(ci.low)}, {fmt(ci.high)}]" if _has(ci) else "n/a"


def _mean(ci: Any) -> Any:
    return ci.mean if ci is not None else None


def _diff(a: Any, b: Any) -> Any:
    return b.mean - a.mean if a is not None and b is not None and is_finite(a.mean) and is_finite(b.mean) else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _design(bench: BenchmarkResult) -> str:
    """`5 repeats x 5 seeds`."""
    seeds = sorted(set(bench.seeds_per_repeat())) or [0]
    s = "/".join(map(str, seeds))
    return f"{_plural(bench.n_repeats, 'repeat')} x {s} seed{'' if seeds == [1] else 's'}"


def _covers(bench: BenchmarkResult) -> str:
    """What the gain's interval ranges over, in words."""
    if bench.protocol < 2:
        return ("It reflects training randomness (initialisation, batches) on this one split after one search per model: "
                "not another split, another search or another dataset. This is a version-1 result of the old protocol.")
    if bench.n_repeats >= 2:
        return (f"It ranges over another split of these photos, another search with the same budget and other retraining "
                f"seeds ({bench.n_repeats} outer repeats, each with its own split and search seed, resampled with their "
                "seeds and test objects): not over another dataset, another search space or another budget.")
    return ("It ranges over retraining seeds and over which objects happen to be in the test split, for this one split "
            "after this one search per model: not over another split or search. Rerun with `--repeats 5` for that.")


# ----- sections ----------------------------------------------------------------------------------
def _verdict(bench: BenchmarkResult) -> str:
    gain = bench.gain
    mean = gain.mean
    ci = gain if _has(gain) else gain.bootstrap if _has(gain.bootstrap) else None
    if ci is None:
        return (f"**Not established.** The order-aware model scores **{_pts(mean)} points** of test accuracy against "
                "the image-only one, but this benchmark has no interval, so how sure we are is unknown.")
    p = f" (P(gain > 0) = {gain.p_positive:.3f} under the bootstrap)" if is_finite(gain.p_positive) else ""
    interval = f"its 95% interval, {_ci(ci, _pts)} points,"
    if ci.low <= 0.0 <= ci.high:
        return (f"**Not established.** The order-aware model scores **{_pts(mean)} points** of test accuracy against "
                f"the image-only one, a gain **not distinguishable from zero**: {interval} includes zero{p}.")
    if ci.low > 0:
        return (f"**Yes.** Knowing the upload order raises per-photo test accuracy by **{_pts(mean)} points**: "
                f"{interval} lies entirely above zero{p}.")
    return (f"**No, it hurts.** The order-aware model is **{100 * abs(mean):.1f} points** less accurate than the "
            f"image-only one: {interval} lies entirely below zero{p}.")


def _headline(doc: Doc, bench: BenchmarkResult) -> None:
    doc.add(_verdict(bench))
    io_, oa = bench.image_only.test_accuracy, bench.order_aware.test_accuracy
    bullets = [f"Test accuracy per photo, mean over {_design(bench)} (each repeat's held-out test split): "
               f"order-aware **{_pct(oa.mean)}** {_ci(oa)}, image-only **{_pct(io_.mean)}** {_ci(io_)}."]
    og = bench.object_gain
    if og is not None and is_finite(og.mean):
        bullets.append(f"Per object (an object's photos combined by summing log-probabilities), the gain is "
                       f"{_pts(og.mean)} points {_ci(og, _pts)}.")
    bg = bench.balanced_gain
    if bg is not None and is_finite(bg.mean):
        bullets.append(f"Balanced accuracy (the mean of per-class accuracies) gains {_pts(bg.mean)} points {_ci(bg, _pts)}.")
    if bench.n_repeats >= 2:
        bullets.append("Gain per repeat: " + ", ".join(f"repeat {r.repeat}: {_pts(v)}" for r, v in
                                                      zip(bench.repeats, bench.gain.per_repeat)) + " points.")
    elif bench.repeats:
        r = bench.repeats[0]
        bullets.append("Gain per seed: " + ", ".join(f"seed {s}: {_pts(v)}" for s, v in r.gain.items()) + " points.")
    v = bench.view_classifier
    if v is not None and is_finite(v.accuracy):
        bullets.append(f"A simple classifier tells a photo's order from its pixels alone for {_pct(v.accuracy)} of test "
                       "photos (see [The view classifier](#the-view-classifier)).")
    doc.add("\n".join(f"- {b}" for b in bullets))
    doc.add("Points are percentage points of test accuracy. Seed *s* of one model is paired with seed *s* of the other "
            f"in the same repeat: same split, same test photos. {_covers(bench)}")


def _by(bench: BenchmarkResult) -> tuple[list[str], Any]:
    """Columns of the accuracy tables: each repeat (K >= 2) or each seed of the one repeat, and a getter."""
    if bench.n_repeats >= 2:
        cols = [f"repeat {r.repeat}" for r in bench.repeats]
        return cols, lambda ci, kind: list(ci.per_repeat) if ci is not None else [None] * len(cols)
    rep = bench.repeats[0] if bench.repeats else None
    seeds = [str(s) for s in rep.seeds] if rep is not None else []
    if rep is not None and not seeds:
        seeds = list(rep.gain)

    def get(ci: Any, kind: Any) -> list:
        src = (rep.gain if kind == "gain" else rep.accuracy.get(kind, {}) if isinstance(kind, str)
               else rep.object_accuracy.get(kind[1], {}) if kind and kind[0] == "object" else {})
        if kind == ("object", "gain"):
            io, oa = rep.object_accuracy.get("image_only", {}), rep.object_accuracy.get("order_aware", {})
            src = {s: oa[s] - io[s] for s in seeds if is_finite(oa.get(s)) and is_finite(io.get(s))}
        return [src.get(s) for s in seeds]

    return [f"seed {s}" for s in seeds], get


def _table(bench: BenchmarkResult, rows: list[tuple[str, Any, Any, str]]) -> str:
    cols, get = _by(bench)
    wide = len(cols) <= _MAX_COLUMNS
    header = ["", "mean", "95% interval"] + (cols if wide else ["per " + cols[0].split()[0] if cols else "-"])
    out = []
    for label, ci, kind, fmt in rows:
        f = _pct if fmt == "pct" else _pts
        vals = [f(v) for v in get(ci, kind)] if kind is not None or bench.n_repeats >= 2 else ["-"] * len(cols)
        out.append([label, f(_mean(ci)), _ci(ci, f), *(vals if wide else [", ".join(vals)])])
    return table(header, out, ["l", "r", "l"] + (["r"] * len(cols) if wide else ["l"]))


def _accuracy_section(doc: Doc, bench: BenchmarkResult) -> None:
    doc.add("## Test accuracy")
    by = "repeat (mean over its seeds)" if bench.n_repeats >= 2 else "seed"
    doc.add("### Per photo",
            f"Mean over {_design(bench)}, its 95% interval, and each {by}.",
            _table(bench, [("image-only", bench.image_only.test_accuracy, "image_only", "pct"),
                           ("order-aware", bench.order_aware.test_accuracy, "order_aware", "pct"),
                           ("gain (points)", bench.gain, "gain", "pts")]))
    boot = bench.gain.bootstrap
    if _has(boot):
        doc.add(f"Version 1 also reported a 95% paired bootstrap over test objects ({boot.reps} resamples): "
                f"{_pts(boot.mean)} points {_ci(boot, _pts)}.")
    if bench.image_only.object_accuracy is not None:
        doc.add("### Per object",
                "An object's photos are combined by summing their log-probabilities; the object is right when the "
                "class with the largest sum is its label.",
                _table(bench, [("image-only", bench.image_only.object_accuracy, ("object", "image_only"), "pct"),
                               ("order-aware", bench.order_aware.object_accuracy, ("object", "order_aware"), "pct"),
                               ("gain (points)", bench.object_gain, ("object", "gain"), "pts")]))
    if bench.image_only.balanced_accuracy is not None:
        doc.add("### Balanced accuracy",
                "The mean over classes of each class's accuracy (every class counts the same, whatever its size).",
                _table(bench, [("image-only", bench.image_only.balanced_accuracy, None, "pct"),
                               ("order-aware", bench.order_aware.balanced_accuracy, None, "pct"),
                               ("gain (points)", bench.balanced_gain, None, "pts")]))
    doc.plot("gain", "Gain of the order-aware model over the image-only one, with 95% intervals and every repeat and seed",
             lambda p: P.gain_plot(p, bench))
    if bench.n_repeats >= 2:
        _repeats_table(doc, bench)


def _repeats_table(doc: Doc, bench: BenchmarkResult) -> None:
    keys = [("image_only", "image-only"), ("order_aware", "order-aware"), ("shuffled_order", "shuffled"),
            ("architecture_only", "constant order")]
    rows = []
    for r in bench.repeats:
        for s in map(str, r.seeds):
            rows.append([r.repeat, r.split_seed if r.split_seed is not None else "-", r.search_seed if r.search_seed is not None else "-",
                         s, *[_pct(r.accuracy.get(k, {}).get(s)) for k, _ in keys], _pts(r.gain.get(s))])
    doc.add("### Every repeat and seed",
            "Each repeat splits the photos with its own seed and runs both searches with its own search seed; its "
            "retraining seeds are never a search seed.",
            table(["repeat", "split seed", "search seed", "seed", *[n for _, n in keys], "gain (points)"], rows,
                  ["r"] * 4 + ["r"] * (len(keys) + 1)))


def _retrain_section(doc: Doc, bench: BenchmarkResult) -> None:
    rows = []
    for rep in bench.repeats:
        for arm, per_seed in rep.retrains.items():
            for s, r in per_seed.items():
                epochs = f"{r.best_epoch} / {r.epochs}" if r.epochs else "-"
                state = "collapsed" if r.collapsed else ("converged" if r.converged else ("still improving" if r.converged is False else "-"))
                rows.append([rep.repeat, ARM_NAMES.get(arm, CONTROL_NAMES.get(arm, arm)), s, _pct(r.best_val_accuracy), epochs, state])
    if not rows:
        return
    below = [f"{_pct(r.collapse_below)} (repeat {r.repeat})" for r in bench.repeats if is_finite(r.collapse_below)]
    text = f" A retraining at or below {', '.join(below)} validation accuracy collapsed." if below else ""
    doc.add("### How each retraining went",
            "Best validation accuracy and its epoch (its weights are the ones tested). *Converged*: the training had "
            "stopped improving (stopped early, or its last fifth of epochs raised the best score by at most a point)." + text,
            table(["repeat", "model", "seed", "best val accuracy", "best epoch / epochs", "training"], rows,
                  ["r", "l", "r", "r", "r", "l"]))


def _controls_section(doc: Doc, bench: BenchmarkResult) -> None:
    controls = bench.controls
    if not controls:
        return
    doc.add("## Controls", "Each control takes information away from the models; read each against the two models above.")
    oa, io_ = bench.order_aware.test_accuracy, bench.image_only.test_accuracy
    rows = [["order-aware model (reference)", _pct(oa.mean), _ci(oa), "The model under test, with the true orders."],
            ["image-only model (reference)", _pct(io_.mean), _ci(io_), "The best model that never sees the order."]]
    for key, c in controls.items():
        if c.levels:
            for level, fig in c.levels.items():
                name = LEVEL_NAMES.get(level, f"orders of {level} of test objects permuted")
                meaning = LEVEL_MEANING.get(level, f"The order-aware model when the photos of {level} of the test objects "
                                                   "were uploaded in another order (permuted among the object's photos).")
                rows.append([name, _pct(fig.mean), _ci(fig), meaning])
            continue
        rows.append([CONTROL_NAMES.get(key, key.replace("_", " ")), _pct(c.value), _ci(c), CONTROL_MEANING.get(key) or c.what])
    doc.add(table(["control", "test accuracy", "95% interval", "what it shows"], rows, ["l", "r", "l", "l"]))
    facts = []
    sh = controls.get("shuffled_order")
    if sh is not None and is_finite(sh.mean) and is_finite(oa.mean):
        facts.append(f"Shuffling the orders at test time changes the order-aware model's accuracy by {_pts(sh.mean - oa.mean)} "
                     f"points ({_pct(oa.mean)} to {_pct(sh.mean)}); the gain it is measured against is {_pts(bench.gain.mean)} points.")
    ar = controls.get("architecture_only")
    if ar is not None and is_finite(ar.mean):
        facts.append(f"With one constant order the order-aware configuration scores {_pct(ar.mean)}: {_pts(_diff(io_, ar))} "
                     f"points over image-only (the architecture) and {_pts(_diff(ar, oa))} points under the order-aware "
                     "model (what the order's information adds).")
    nc = controls.get("noncompliance")
    if nc is not None and nc.levels and is_finite(oa.mean):
        drops = ", ".join(f"{LEVEL_NAMES.get(k, k + ' of objects out of order')}: {_pts(_diff(oa, f))}" for k, f in nc.levels.items())
        facts.append(f"Accuracy change of the order-aware model when users do not comply ({drops} points).")
    oo, mc = controls.get("order_only"), controls.get("majority_class")
    if oo is not None and mc is not None and is_finite(oo.value) and is_finite(mc.value):
        facts.append(f"The order alone scores {_pts(oo.value - mc.value)} points over the majority class.")
    if facts:
        doc.add(" ".join(facts))


def _images(bench: BenchmarkResult, ci: Interval | None, key: str) -> Any:
    if ci is not None and ci.images is not None:
        return ci.images
    search = bench.repeats[0].searches.get("order_aware") if bench.repeats else None
    counts = search.best.test_per_order if search is not None and search.best is not None else {}
    return counts[key].n if key in counts else "-"


def _key(k: str) -> tuple:
    return (0, int(k), k) if k.lstrip("-").isdigit() else (1, 0, k)


MAX_PLOTTED_KEYS = 12  # wider than this, a grouped bar plot is unreadable: the table stays


def _per_key_section(doc: Doc, bench: BenchmarkResult, kind: str) -> None:
    """Accuracy per upload order (kind "order") or per class (kind "class"), both arms side by side."""
    per = {arm: (bench.per_order if kind == "order" else bench.per_class).get(arm, {}) for arm in ARMS}
    keys = sorted({k for arm in ARMS for k in per[arm]}, key=_key)
    if not keys:
        return
    order = kind == "order"
    names = {k: order_name(int(k)) for k in keys if k.lstrip("-").isdigit()} if order else {}
    rows = []
    for k in keys:
        a, b = per["image_only"].get(k), per["order_aware"].get(k)
        rows.append([md(k), *([names.get(k, "")] if order else []), _images(bench, a or b, k),
                     _pct(_mean(a)), _ci(a), _pct(_mean(b)), _ci(b), _pts(_diff(a, b))])
    header = [kind, *(["meaning"] if order else []), "test photos", "image-only", "95% interval", "order-aware",
              "95% interval", "gain (points)"]
    align = ["r" if order else "l", *(["l"] if order else []), "r", "r", "l", "r", "l", "r"]
    if order:
        heading = "## Accuracy per upload order"
        intro = ("Upload position of each test photo: 1 = front, 2 = back, 3 = other, 0 = unknown; photos counted over "
                 "all repeats. Few photos per order make wide intervals.")
    else:
        heading = "## Accuracy per class"
        intro = "Accuracy on the test photos of each class (its recall); photos counted over all repeats."
    doc.add(heading, intro, table(header, rows, align))
    if len(keys) <= MAX_PLOTTED_KEYS:
        title = heading.strip("# ")
        doc.plot(f"accuracy_by_{kind}", title, lambda p: P.grouped_accuracy_plot(
            p, keys, [f"{names[k]} ({k})" if k in names else k for k in keys], per, title + " (mean over repeats and seeds)"))


def _view_section(doc: Doc, bench: BenchmarkResult) -> None:
    v = bench.view_classifier
    if v is None or not is_finite(v.accuracy):
        return
    per = ", ".join(_pct(a) for a in v.per_repeat) if len(v.per_repeat) > 1 else ""
    doc.add("## The view classifier",
            f"A {md(v.what)}. It tells the order for **{_pct(v.accuracy)}** of test photos"
            + (f" (per repeat: {per})" if per else "") + (f"; always the most frequent order scores {_pct(v.chance)}." if is_finite(v.chance) else ".")
            + " When this is high the order is a free, clean label of the view: feeding it spares the model learning to tell "
              "front, back and other apart (sample and model efficiency), rather than adding information the photos lack.")


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
    keys += [k for a in ARMS for k in shown[a] if k not in keys]
    rows = []
    for k in dict.fromkeys(keys):
        vals = [shown[a].get(k) for a in ARMS]
        rows.append([k, *["-" if v is None else (f"**{v}**" if vals[0] != vals[1] else v) for v in vals]])
    return rows


def _best_section(doc: Doc, bench: BenchmarkResult) -> None:
    if not any(r.searches for r in bench.repeats):
        return
    doc.add("## The searches and their best configurations",
            "In each repeat both searches had the same budget, split, search seed and space, except the order encoding: "
            "fixed to `none` for the image-only search, the order-aware encodings for the other. Validation and test "
            "accuracy here are those of each search's own best model (one training); the figures above are the "
            "retrainings over seeds.")
    if len(bench.repeats) == 1:
        s = bench.repeats[0].searches
        bests = {arm: s[arm].best if arm in s else None for arm in ARMS}

        def cell(arm: str, get: Any) -> Any:
            return get(bests[arm]) if bests[arm] is not None else "-"

        rows: list[list[Any]] = [
            ["run folder", *[f"[{s[a].run_dir}/]({s[a].run_dir}/)" if a in s and s[a].run_dir else "-" for a in ARMS]],
            ["trials run", *[f"{len(s[a].trials)}" + (f" ({len(s[a].trials) - len(ranked(s[a].trials))} failed or unscored)"
                                                     if len(ranked(s[a].trials)) < len(s[a].trials) else "") if a in s else "-" for a in ARMS]],
            ["max trials, epochs", *[f"{s[a].max_trials}, {s[a].epochs}" if a in s else "-" for a in ARMS]],
            ["best trial", *[cell(a, lambda b: b.trial) for a in ARMS]],
            ["validation accuracy", *[_pct(cell(a, lambda b: b.val_accuracy)) for a in ARMS]],
            ["test accuracy (one training)", *[_pct(cell(a, lambda b: b.test_accuracy)) for a in ARMS]],
        ]
        doc.add(table(["", *[ARM_NAMES[a] for a in ARMS]], rows + _hp_rows(bests), ["l", "l", "l"]))
        return
    rows = []
    for r in bench.repeats:
        for arm in ARMS:
            a = r.searches.get(arm)
            b = a.best if a is not None else None
            folder = f"[{a.run_dir}/]({a.run_dir}/)" if a is not None and a.run_dir else "-"
            rows.append([r.repeat, ARM_NAMES[arm], folder, b.trial if b else "-", _pct(b.val_accuracy if b else None),
                         _pct(b.test_accuracy if b else None), hps_text(b.hyperparameters) if b else "-"])
    doc.add(table(["repeat", "search", "folder", "best trial", "val accuracy", "test accuracy (one training)", "configuration"],
                  rows, ["r", "l", "l", "r", "r", "r", "l"]))


def _method_section(doc: Doc, bench: BenchmarkResult) -> None:
    if bench.protocol < 2:
        doc.add("## How it was measured (version 1)",
                "Protocol 1: two searches with the same budget on one split; each best configuration retrained with each "
                "seed (seed 0 was also the search seed) and tested on the held-out split; a 95% Student-t interval over "
                "the paired seeds and a paired bootstrap over test objects. It covers neither another split nor another "
                "search; rerun `autoorder benchmark --repeats 5 --seeds 5` for protocol 2.")
        return
    st = bench.statistics
    lines = [
        f"1. {_plural(bench.n_repeats, 'outer repeat')}. Repeat *r* splits the photos (grouped by object, stratified by "
        "class) with its own seed and runs two searches with the same budget and its own search seed: image-only (order "
        "encoding fixed to `none`) and order-aware (the configured order-aware encodings). Both share the repeat's split.",
        "2. In each repeat each search's best configuration is retrained from scratch with each retraining seed (never a "
        "search seed) and tested on the repeat's held-out test split, which neither search saw.",
        "3. Gain = order-aware minus image-only test accuracy per photo, paired by repeat and seed; its mean over repeats "
        "and seeds is the headline.",
        "4. Controls: shuffled orders at test; the order-aware configuration trained and tested with one constant order; "
        "the orders of 1%, 5% and 20% of test objects permuted, and every order unknown; an order-only model; the "
        "majority class. Accuracy per order value, per class and per object; a view classifier.",
    ]
    if st is not None:
        lines.append(f"5. Intervals: {md(st.method)} ({st.reps} resamples, seed {st.seed}; percentiles "
                     + ", ".join(f"{100 * q:.3g}%" for q in st.percentiles) + f"). p-value: {md(st.p_value)}.")
    doc.add("## How it was measured", "\n".join(lines),
            "Every figure recomputes from `predictions.csv.gz` and this file's `statistics` "
            "(`autoorder.benchmarking.figures.figures_from_folder`).")


def _provenance_section(doc: Doc, bench: BenchmarkResult) -> None:
    doc.add("## Provenance")
    if bench.command:
        fence = "````" if "```" in bench.command else "```"
        doc.add("Made with:", f"{fence}sh\n{bench.command}\n{fence}")
    else:
        doc.add("The command that made this benchmark was not recorded.")
    rows: list[list[Any]] = [["design", _design(bench)]]
    for r in bench.repeats:
        rows.append([f"repeat {r.repeat} seeds", ", ".join(map(str, r.seeds)) or "-"])
    if bench.date:
        rows.append(["date", bench.date])
    if is_finite(bench.seconds):
        s = float(bench.seconds)
        human = f" ({s / 3600:.1f} h)" if s >= 3600 else f" ({s / 60:.1f} min)" if s >= 60 else ""
        rows.append(["wall time", f"{s:.0f} s{human}"])
    rows += [[f"machine: {k}", v] for k, v in bench.machine.items()]
    doc.add(table(["", "value"], rows, ["l", "l"]))
    if bench.versions:
        doc.add(table(["library", "version"], [[k, v if v is not None else "not installed"] for k, v in bench.versions.items()], ["l", "l"]))


def render_benchmark_report(bench_dir: str | Path) -> Path:
    """Write BENCH_DIR/report.md and BENCH_DIR/plots/*.png from BENCH_DIR/benchmark.json; returns report.md's path.

    Raises:
        RunError: the folder or its benchmark.json is missing or corrupt.
    """
    bench_dir = Path(bench_dir)
    bench = read_benchmark(bench_dir)
    doc = Doc(bench_dir)
    here = bench_dir.resolve()
    name = here.parent.name if here.name == "results" else here.name  # benchmarks/<name>/results
    doc.add(f"# Does the upload order help? Benchmark: {md(name)}")
    if bench.protocol < 2:
        doc.add("> **Version 1.** This benchmark.json was written by benchmark protocol 1: one split, one search per model, "
                "a Student-t interval over retraining seeds. Its interval does not cover another split or search, and its "
                "accuracy intervals are symmetric, so with few seeds they can pass 100%. Rerun "
                "`autoorder benchmark` for protocol 2 (outer repeats, hierarchical bootstrap, more controls).")
    _headline(doc, bench)
    for w in bench.warnings:
        doc.add(f"> **Warning**: {md(w)}")
    doc.plot("accuracy", "Test accuracy of both models and the controls", lambda p: P.accuracy_plot(p, bench))
    _accuracy_section(doc, bench)
    _retrain_section(doc, bench)
    _controls_section(doc, bench)
    _per_key_section(doc, bench, "order")
    _per_key_section(doc, bench, "class")
    _view_section(doc, bench)
    _best_section(doc, bench)
    if any(r.searches for r in bench.repeats):
        doc.add("### Every trial of every search",
                "Each point is one trial's best validation accuracy; failed or unscored trials are not drawn but are "
                "counted under their search.")
        doc.plot("trials", "Validation accuracy of every trial of every search", lambda p: P.trials_plot(p, bench))
    _method_section(doc, bench)
    dataset_section(doc, bench.dataset)
    _provenance_section(doc, bench)
    doc.add(f"<sub>Rendered by autoorder {__version__} from `{BENCHMARK_JSON}`.</sub>")
    path = bench_dir / REPORT
    write_text(path, doc.text())
    return path
