"""`report.md` and `plots/*.png` for a finished search, from the plain files of its run folder.

Reads results.json (through `autoorder.schema.results`), test_predictions.csv, labels.json and
config.resolved.yaml only; never imports TensorFlow or Keras, so a report takes a second, not a
framework start-up.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from autoorder.core.config import FREEZE_ALL, FREEZE_NONE, HP_BACKBONE, HP_ENCODING, MAX_CONFIG_BYTES
from autoorder.core.errors import AutoOrderError, RunError
from autoorder.core.fileio import needs_escape, read_regular, write_text
from autoorder.core.safeyaml import load_yaml
from autoorder.core.version import __version__
from autoorder.reports import plots
from autoorder.reports.markdown import (
    REPORT,
    Doc,
    acc,
    dataset_section,
    freeze_of,
    hps_text,
    md,
    order_name,
    secs,
    table,
    visible_hps,
    wilson,
)
from autoorder.schema.results import (
    LABELS,
    RESOLVED,
    RESULTS,
    TEST_PREDICTIONS,
    BestModel,
    RunResults,
    TrialRecord,
    is_finite,
    ranked,
    read_results,
)

PREDICTION_COLUMNS = ("image", "object_id", "order", "label", "predicted", "probability")


def _id_key(trial_id: str) -> tuple:
    return (0, int(trial_id), trial_id) if trial_id.isdigit() else (1, 0, trial_id)


def _unescape_cell(value: str) -> str:
    # write_csv prefixes formula-like cells with a quote; undo it to get the class name back.
    if value.startswith("'") and needs_escape(value[1:]):
        return value[1:]
    return value


# ----- reading the run folder ------------------------------------------------------------------
def _load_config(run_dir: Path) -> tuple[str | None, dict]:
    """The run's config text and data; a damaged or hostile one only costs the report its search-space ordering."""
    path = run_dir / RESOLVED
    try:
        text = read_regular(path, "Run file", "a YAML file", RunError, MAX_CONFIG_BYTES).decode("utf-8")
    except (AutoOrderError, UnicodeDecodeError):
        return None, {}
    try:
        data = load_yaml(text, f"Run file {str(path)!r}", RunError)
    except AutoOrderError:
        data = None
    return text, data if isinstance(data, dict) else {}


def _load_classes(run_dir: Path, results: RunResults) -> list[str]:
    path = run_dir / LABELS
    try:
        data = json.loads(read_regular(path, "Run file", "a JSON file", RunError).decode("utf-8"))
        if isinstance(data, list):
            return [str(c) for c in data]
    except (AutoOrderError, ValueError):
        pass
    return list(results.dataset.classes) if results.dataset is not None else []


def read_predictions(run_dir: str | Path) -> list[dict] | None:
    """Rows of test_predictions.csv as dicts (order as int, 0 when unknown); None if the file is absent."""
    path = Path(run_dir) / TEST_PREDICTIONS
    if not path.exists():
        return None
    try:
        text = read_regular(path, "The test predictions file", "a CSV file written by autoorder search").decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunError(f"The test predictions file {str(path)!r} cannot be read ({e}).") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("order", "label", "predicted") if c not in (reader.fieldnames or [])]
    if missing:
        raise RunError(
            f"The test predictions file {str(path)!r} lacks column(s) {missing}. Expected the columns "
            f"{','.join(PREDICTION_COLUMNS)}. Got {reader.fieldnames} instead."
        )
    rows = []
    for rec in reader:
        raw = (rec.get("order") or "").strip()
        try:
            order = int(float(raw)) if raw else 0
        except ValueError:
            order = 0
        rows.append({
            "image": _unescape_cell(rec.get("image") or ""),
            "order": order,
            "label": _unescape_cell(rec.get("label") or ""),
            "predicted": _unescape_cell(rec.get("predicted") or ""),
        })
    return rows


# ----- what the report computes ----------------------------------------------------------------
def metrics_from_predictions(rows: list[dict], classes: Sequence[str]) -> dict:
    """Accuracy, confusion matrix (rows: true, columns: predicted) and accuracy per order value."""
    names = list(classes)
    for r in rows:
        for c in (r["label"], r["predicted"]):
            if c not in names:
                names.append(c)
    index = {c: i for i, c in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    for r in rows:
        matrix[index[r["label"]]][index[r["predicted"]]] += 1
    per_order: dict[int, dict] = {}
    for o in sorted({r["order"] for r in rows}):
        sel = [r for r in rows if r["order"] == o]
        correct = sum(r["label"] == r["predicted"] for r in sel)
        low, high = wilson(correct, len(sel))
        per_order[o] = {"n": len(sel), "correct": correct, "accuracy": correct / len(sel), "low": low, "high": high}
    correct = sum(r["label"] == r["predicted"] for r in rows)
    return {
        "classes": names,
        "matrix": matrix,
        "n": len(rows),
        "correct": correct,
        "accuracy": correct / len(rows) if rows else None,
        "per_order": per_order,
    }


def score_by(trials: list[TrialRecord], key: Callable[[TrialRecord], Any], order: Sequence[Any] = ()) -> list[dict]:
    """Per category of `key(trial)`: trial count, failures, mean and best finite val_accuracy."""
    cats = [c for c in order if any(key(t) == c for t in trials)]
    cats += sorted({key(t) for t in trials if key(t) not in cats}, key=str)
    out = []
    for c in cats:
        mine = [t for t in trials if key(t) == c]
        scores = [t.objective_value for t in mine if t.scored]
        out.append({
            "category": c,
            "trials": len(mine),
            "failed": len(mine) - len(scores),
            "scores": scores,
            "mean": sum(scores) / len(scores) if scores else None,
            "best": max(scores) if scores else None,
        })
    return out


# ----- sections --------------------------------------------------------------------------------
def _summary(doc: Doc, results: RunResults, good: list[TrialRecord], config: dict) -> None:
    trials = results.trials
    best = results.best
    n_bad = len(trials) - len(good)
    line = f"{len(trials)} trial(s): {len(good)} with a score"
    line += f", {n_bad} failed or without a finite score." if n_bad else "."
    if is_finite(results.seconds):
        line += f" Total trial time {results.seconds:.1f} s."
    tuner = config.get("tuner") if isinstance(config.get("tuner"), dict) else {}
    if tuner:
        bits = [f"{k} {tuner[k]}" for k in ("algorithm", "max_trials", "epochs", "seed") if k in tuner]
        line += " Tuner: " + ", ".join(bits) + "."
    doc.add(line)
    if best is not None:
        on = f" on {best.test_images} test images." if best.test_images is not None else "."
        doc.add(
            f"**Best: trial {best.trial}**, validation accuracy **{acc(best.val_accuracy)}**, "
            f"test accuracy **{acc(best.test_accuracy)}**" + on
        )
        base = results.baseline.majority_class if results.baseline is not None else None
        if base is not None:
            below = results.baseline.collapse_below
            doc.add(
                f"Baseline: always answering the most frequent training class ({md(base.label)}) scores "
                f"{acc(base.val_accuracy)} on validation and {acc(base.test_accuracy)} on test."
                + (f" A trial at or below {acc(below)} validation accuracy is marked collapsed." if below is not None else "")
            )
        for w in results.warnings:
            doc.add(f"**Warning**: {md(w)}")
    elif good:
        doc.add("Some trials have a score, but the results hold no exported best model (the search did not finish).")
    else:
        doc.add(f"**No trial succeeded**: all {len(trials)} trial(s) failed or ended without a finite score, so there is no best model. The reasons are listed under *Failed trials*.")


def _best_section(doc: Doc, best: BestModel | None) -> None:
    if best is None:
        return
    rows = [["trial", best.trial], ["validation accuracy", acc(best.val_accuracy)],
            ["test accuracy", acc(best.test_accuracy)]]
    if best.test_images is not None:
        rows.append(["test images", best.test_images])
    rows += [[k, v] for k, v in visible_hps(best.hyperparameters).items()]
    if best.model:
        rows.append(["model file", best.model])
    doc.add("## Best model", table(["", "value"], rows, ["l", "l"]))


def _describer(trials: list[TrialRecord]) -> Callable[[TrialRecord], str]:
    backbones = {t.hyperparameters.get(HP_BACKBONE) for t in trials}

    def describe(t: TrialRecord) -> str:
        hps = t.hyperparameters
        bits = [str(hps.get(HP_BACKBONE))] if len(backbones) > 1 else []
        f = freeze_of(hps)
        if f is not None:
            bits.append(f"freeze {f}")
        return ", ".join(bits)

    return describe


def _trials_section(doc: Doc, trials: list[TrialRecord], good: list[TrialRecord], colors: dict, objective: str = "val_accuracy") -> None:
    doc.add("## Trials")
    doc.plot("trials_ranked", "Trials ranked by validation accuracy",
             lambda p: plots.ranked_trials(p, trials, color_by=HP_ENCODING, describe=_describer(trials), colors=colors))
    if good:
        rows = [[i, t.id, acc(t.objective_value) + (" (collapsed)" if t.collapsed else ""), _epochs_text(t),
                 secs(t.seconds), hps_text(t.hyperparameters)]
                for i, t in enumerate(good, start=1)]
        doc.add("### Ranking",
                "Only trials that completed with a finite validation accuracy are ranked. A *collapsed* trial (its "
                "validation accuracy does not clear the majority class by a clear margin) ranks after every other "
                "one. *Epochs*: the best epoch of the epochs run; *still improving* means its last fifth of epochs "
                "raised the best score by more than a point, so more epochs could change the ranking.",
                table(["rank", "trial", objective, "best epoch / epochs", "seconds", "hyperparameters"], rows,
                      ["r", "r", "r", "r", "r", "l"]))
    ok = {id(t) for t in good}
    bad = sorted((t for t in trials if id(t) not in ok), key=lambda t: _id_key(t.id))
    if bad:
        rows = [[t.id, t.status or "?", secs(t.seconds),
                 t.reason or ("no finite val_accuracy" if t.status == "COMPLETED" else "no reason recorded"),
                 hps_text(t.hyperparameters)] for t in bad]
        doc.add("### Failed trials", f"{len(bad)} trial(s) failed or ended without a finite score; they are not ranked.",
                table(["trial", "status", "seconds", "reason", "hyperparameters"], rows, ["r", "l", "r", "l", "l"]))


def _epochs_text(t: TrialRecord) -> str:
    if t.epochs is None:
        return "-"
    best = t.best_epoch + 1 if t.best_epoch is not None else "?"
    return f"{best} / {t.epochs}" + (", still improving" if t.converged is False else "")


def _by_section(doc: Doc, trials: list[TrialRecord], *, title: str, what: str, plot_name: str,
                key: Callable[[TrialRecord], Any], order: Sequence[Any], colors: dict | None = None) -> None:
    stats = score_by(trials, key, order)
    doc.add(f"### {title}")
    if not stats:
        doc.add(f"No trial records a {what}.")
        return
    rows = [[s["category"], s["trials"], s["failed"], acc(s["mean"]), acc(s["best"])] for s in stats]
    tab = table([what, "trials", "failed", "mean val_accuracy", "best val_accuracy"], rows, ["l", "r", "r", "r", "r"])
    scored = [s for s in stats if s["scores"]]
    if len(stats) < 2:
        doc.add(f"Only one {what} was searched ({stats[0]['category']}).", tab)
        return
    if scored:
        cats = [s["category"] for s in stats]
        values = [(s["category"], v) for s in stats for v in s["scores"] + [None] * s["failed"]]
        doc.plot(plot_name, f"Validation accuracy by {what}", lambda p: plots.strip_by_category(
            p, [c for c, _ in values], [v for _, v in values], f"Validation accuracy by {what}",
            "validation accuracy", order=cats, xlabel=what, colors=colors))
    doc.add(tab)


def _freeze_key(trials: list[TrialRecord]) -> Callable[[TrialRecord], Any]:
    backbones = {t.hyperparameters.get(HP_BACKBONE) for t in trials}

    def key(t: TrialRecord) -> Any:
        hps = t.hyperparameters
        f = freeze_of(hps)
        if f is None:
            return None
        # Cut-point names belong to one backbone; none/all mean the same thing for every backbone.
        if len(backbones) > 1 and f not in (FREEZE_NONE, FREEZE_ALL):
            return f"{hps.get(HP_BACKBONE)}/{f}"
        return f

    return key


def _space_list(config: dict, key: str) -> list:
    space = config.get("space") if isinstance(config.get("space"), dict) else {}
    value = space.get(key)
    return list(value) if isinstance(value, list) else ([value] if value is not None else [])


def _scores_section(doc: Doc, trials: list[TrialRecord], config: dict, enc_colors: dict) -> None:
    doc.add("## Score by hyperparameter",
            "Each point is one trial; the black line is the mean over the scored trials with that value. "
            "A random search samples values unevenly, so compare the best scores as well as the means.")
    present = [t for t in trials if t.hyperparameters.get(HP_BACKBONE) is not None]
    _by_section(doc, present, title="Backbone", what="backbone", plot_name="score_by_backbone",
                key=lambda t: t.hyperparameters.get(HP_BACKBONE), order=_space_list(config, "backbones"))
    present = [t for t in trials if t.hyperparameters.get(HP_ENCODING) is not None]
    _by_section(doc, present, title="Order encoding", what="order encoding", plot_name="score_by_order_encoding",
                key=lambda t: t.hyperparameters.get(HP_ENCODING), order=_space_list(config, "order_encodings"),
                colors=enc_colors)
    key = _freeze_key(trials)
    present = [t for t in trials if key(t) is not None]
    # Shallow to deep: all (train nothing), the cut points as configured, none (train everything).
    configured = {c: i for i, c in enumerate(_space_list(config, "freeze"))}
    raw = {key(t): freeze_of(t.hyperparameters) for t in present}
    cuts = sorted(set(raw) - {FREEZE_ALL, FREEZE_NONE}, key=lambda k: (configured.get(raw[k], len(configured)), str(k)))
    freeze_order = [FREEZE_ALL, *cuts, FREEZE_NONE]
    _by_section(doc, present, title="Freeze point", what="freeze point", plot_name="score_by_freeze",
                key=key, order=freeze_order)


def _test_section(doc: Doc, run_dir: Path, best: BestModel | None, classes: list[str]) -> None:
    if best is None:
        return
    doc.add("## Best model on the test split")
    rows = read_predictions(run_dir)
    if rows is None:
        doc.add(f"`{TEST_PREDICTIONS}` is missing from the run folder, so the confusion matrix and the "
                "per-order accuracy cannot be shown.")
        return
    if not rows:
        doc.add(f"`{TEST_PREDICTIONS}` has no rows: the test split is empty.")
        return
    m = metrics_from_predictions(rows, classes)
    doc.add(f"{m['correct']} of {m['n']} test images correct (accuracy {acc(m['accuracy'])}), "
            f"recomputed from `{TEST_PREDICTIONS}`.")
    recorded = best.test_accuracy
    if is_finite(recorded) and abs(recorded - m["accuracy"]) > 1e-6:
        doc.add(f"> **Note**: results.json records a test accuracy of {acc(recorded)}, which differs from "
                f"`{TEST_PREDICTIONS}`; the file may have been edited or comes from another run.")
    doc.add("### Confusion matrix")
    doc.plot("confusion_matrix", "Confusion matrix of the best model on the test split", lambda p: plots.confusion_matrix(
        p, m["classes"], m["matrix"], f"Best model (trial {best.trial}) on the test split"))
    doc.add("### Accuracy per upload order",
            "Upload position of each photo: 1 = front, 2 = back, 3 = other, 0 = unknown. "
            "Intervals are 95% Wilson intervals over images (photos of one object are not independent, "
            "so read them as a lower bound on the uncertainty).")
    per = m["per_order"]
    table_rows = [[o, order_name(o), s["n"], s["correct"], acc(s["accuracy"]),
                   f"[{s['low']:.3f}, {s['high']:.3f}]"] for o, s in per.items()]
    doc.plot("test_accuracy_by_order", "Test accuracy per upload order", lambda p: plots.bar_with_ci(
        p, [f"{order_name(o)} ({o})" for o in per], [s["accuracy"] for s in per.values()],
        [s["low"] for s in per.values()], [s["high"] for s in per.values()],
        "Test accuracy of the best model per upload order", "test accuracy",
        notes=[f"{s['correct']}/{s['n']}" for s in per.values()], ylim=(0.0, 1.18)))
    doc.add(table(["order", "meaning", "images", "correct", "accuracy", "95% interval"], table_rows,
                  ["r", "l", "r", "r", "r", "l"]))


def _environment_section(doc: Doc, results: RunResults, config_text: str | None) -> None:
    doc.add("## Environment")
    rows = [[k, v if v is not None else "not installed"] for k, v in results.versions.items()]
    if rows:
        doc.add(table(["library", "version"], rows, ["l", "l"]))
    facts = []
    if is_finite(results.seconds):
        facts.append(f"Total trial time: {results.seconds:.1f} s (sum over trials).")
    if results.cache is not None and results.cache.backbone_passes is not None:
        facts.append(f"Backbone passes over the data (feature cache): {results.cache.backbone_passes}.")
    if facts:
        doc.add(" ".join(facts))
    if config_text is not None:
        fence = "````" if "```" in config_text else "```"
        doc.add(f"<details><summary>{RESOLVED}</summary>\n\n{fence}yaml\n{config_text.rstrip()}\n{fence}\n\n</details>")


def render_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/plots/*.png for a finished search; returns report.md's path.

    Raises:
        RunError: the run folder or its results.json is missing or corrupt.
    """
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    trials = results.trials
    good = ranked(trials)
    config_text, config = _load_config(run_dir)
    classes = _load_classes(run_dir, results)
    encodings = _space_list(config, "order_encodings") + [t.hyperparameters.get(HP_ENCODING) for t in trials]
    enc_colors = plots.category_colors([e for e in encodings if e is not None])

    doc = Doc(run_dir)
    doc.add(f"# Search report: {md(run_dir.resolve().name)}")
    _summary(doc, results, good, config)
    _best_section(doc, results.best)
    _trials_section(doc, trials, good, enc_colors, results.objective)
    _scores_section(doc, trials, config, enc_colors)
    _test_section(doc, run_dir, results.best, classes)
    dataset_section(doc, results.dataset)
    _environment_section(doc, results, config_text)
    doc.add(f"<sub>Rendered by `autoorder report` (autoorder {__version__}) from `{RESULTS}`.</sub>")
    path = run_dir / REPORT
    write_text(path, doc.text())
    return path
