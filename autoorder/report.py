"""`report.md` and `plots/*.png` for a finished search, from the plain files of its run folder.

Reads results.json, test_predictions.csv, labels.json and config.resolved.yaml only; never
imports TensorFlow or Keras, so a report takes a second, not a framework start-up.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from autoorder import __version__, plots
from autoorder.config import FREEZE_ALL, FREEZE_NONE, HP_BACKBONE, HP_ENCODING, HP_FREEZE
from autoorder.errors import RunError
from autoorder.fileio import write_text
from autoorder.results import LABELS, RESOLVED, RESULTS, TEST_PREDICTIONS, is_finite, ranked, read_results

REPORT = "report.md"
PLOTS_DIR = "plots"
ORDER_NAMES = {0: "unknown", 1: "front", 2: "back", 3: "other"}
PREDICTION_COLUMNS = ("image", "object_id", "order", "label", "predicted", "probability")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ----- small pure helpers --------------------------------------------------------------------
def order_name(value: int) -> str:
    return ORDER_NAMES.get(value, f"position {value}")


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """95% Wilson score interval of a proportion; (None, None) when n is 0."""
    if n <= 0:
        return None, None
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def freeze_of(hps: dict) -> Any:
    """The freeze point of a trial: the hyperparameter `<backbone>/freeze`."""
    return hps.get(f"{hps.get(HP_BACKBONE)}/{HP_FREEZE}")


def visible_hps(hps: dict) -> dict:
    """Hyperparameters a reader cares about: active ones (inactive are None), no tuner bookkeeping."""
    return {k: v for k, v in hps.items() if v is not None and not k.startswith("tuner/")}


def _id_key(trial_id: Any) -> tuple:
    text = str(trial_id)
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def _md(value: Any) -> str:
    """Text safe inside a GitHub table cell."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    align = align or ["l"] * len(header)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _acc(x: Any) -> str:
    return f"{x:.4f}" if is_finite(x) else "-"


def _secs(x: Any) -> str:
    return f"{x:.1f}" if is_finite(x) else "-"


def _hps_text(hps: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in visible_hps(hps).items())


def _unescape_cell(value: str) -> str:
    # write_csv prefixes formula-like cells with a quote; undo it to get the class name back.
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


# ----- reading the run folder ------------------------------------------------------------------
def _load_results(run_dir: Path) -> dict:
    results = read_results(run_dir)
    if not isinstance(results, dict) or not isinstance(results.get("trials"), list):
        raise RunError(
            f"The results file {str(run_dir / RESULTS)!r} is not an autoorder results file: expected a JSON object "
            f"with a 'trials' list. Got {type(results).__name__} instead. Rerun the search to write it again."
        )
    for i, t in enumerate(results["trials"]):
        if not isinstance(t, dict):
            raise RunError(f"The results file {str(run_dir / RESULTS)!r} is corrupt: trial #{i} is not an object.")
        t.setdefault("hyperparameters", {})
        if not isinstance(t["hyperparameters"], dict):
            t["hyperparameters"] = {}
    return results


def _load_config(run_dir: Path) -> tuple[str | None, dict]:
    path = run_dir / RESOLVED
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None, {}
    try:
        import yaml

        data = yaml.safe_load(text)
    except Exception:  # a damaged config only costs the report its search-space ordering
        data = None
    return text, data if isinstance(data, dict) else {}


def _load_classes(run_dir: Path, results: dict) -> list[str]:
    path = run_dir / LABELS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            return [str(c) for c in data]
    except (OSError, ValueError):
        pass
    classes = (results.get("dataset") or {}).get("classes")
    return [str(c) for c in classes] if isinstance(classes, list) else []


def read_predictions(run_dir: str | Path) -> list[dict] | None:
    """Rows of test_predictions.csv as dicts (order as int, 0 when unknown); None if the file is absent."""
    path = Path(run_dir) / TEST_PREDICTIONS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
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


def score_by(trials: list[dict], key: Callable[[dict], Any], order: Sequence[Any] = ()) -> list[dict]:
    """Per category of `key(trial)`: trial count, failures, mean and best finite val_accuracy."""
    scored = {id(t) for t in ranked(trials)}
    cats = [c for c in order if any(key(t) == c for t in trials)]
    cats += sorted({key(t) for t in trials if key(t) not in cats}, key=str)
    out = []
    for c in cats:
        mine = [t for t in trials if key(t) == c]
        scores = [t["val_accuracy"] for t in mine if id(t) in scored]
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
class _Doc:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.parts: list[str] = []

    def add(self, *texts: str) -> None:
        self.parts.extend(texts)

    def plot(self, name: str, alt: str, draw: Callable[[Path], Any]) -> None:
        draw(self.run_dir / PLOTS_DIR / f"{name}.png")
        self.add(f"![{alt}]({PLOTS_DIR}/{name}.png)")

    def text(self) -> str:
        return "\n\n".join(p.strip("\n") for p in self.parts) + "\n"


def _summary(doc: _Doc, results: dict, good: list[dict], config: dict) -> None:
    trials = results["trials"]
    best = results.get("best")
    n_bad = len(trials) - len(good)
    line = f"{len(trials)} trial(s): {len(good)} with a score"
    line += f", {n_bad} failed or without a finite score." if n_bad else "."
    if is_finite(results.get("seconds")):
        line += f" Total trial time {results['seconds']:.1f} s."
    tuner = config.get("tuner") if isinstance(config.get("tuner"), dict) else {}
    if tuner:
        bits = [f"{k} {tuner[k]}" for k in ("algorithm", "max_trials", "epochs", "seed") if k in tuner]
        line += " Tuner: " + ", ".join(bits) + "."
    doc.add(line)
    if best:
        test = best.get("test_accuracy")
        n_test = best.get("test_images")
        doc.add(
            f"**Best: trial {best.get('trial')}**, validation accuracy **{_acc(best.get('val_accuracy'))}**, "
            f"test accuracy **{_acc(test)}**" + (f" on {n_test} test images." if n_test is not None else ".")
        )
        base = (results.get("baseline") or {}).get("majority_class")
        if base:
            doc.add(
                f"Baseline: always answering the most frequent training class ({_md(base.get('label'))}) scores "
                f"{_acc(base.get('val_accuracy'))} on validation and {_acc(base.get('test_accuracy'))} on test."
            )
        for w in results.get("warnings") or []:
            doc.add(f"**Warning**: {_md(w)}")
    elif good:
        doc.add("Some trials have a score, but the results hold no exported best model (the search did not finish).")
    else:
        doc.add(f"**No trial succeeded**: all {len(trials)} trial(s) failed or ended without a finite score, so there is no best model. The reasons are listed under *Failed trials*.")


def _best_section(doc: _Doc, best: dict | None) -> None:
    if not best:
        return
    rows = [["trial", best.get("trial")], ["validation accuracy", _acc(best.get("val_accuracy"))],
            ["test accuracy", _acc(best.get("test_accuracy"))]]
    if best.get("test_images") is not None:
        rows.append(["test images", best["test_images"]])
    rows += [[k, v] for k, v in visible_hps(best.get("hyperparameters") or {}).items()]
    if best.get("model"):
        rows.append(["model file", best["model"]])
    doc.add("## Best model", _table(["", "value"], rows, ["l", "l"]))


def _describer(trials: list[dict]) -> Callable[[dict], str]:
    backbones = {t["hyperparameters"].get(HP_BACKBONE) for t in trials}

    def describe(t: dict) -> str:
        hps = t["hyperparameters"]
        bits = [str(hps.get(HP_BACKBONE))] if len(backbones) > 1 else []
        f = freeze_of(hps)
        if f is not None:
            bits.append(f"freeze {f}")
        return ", ".join(bits)

    return describe


def _trials_section(doc: _Doc, trials: list[dict], good: list[dict], colors: dict) -> None:
    doc.add("## Trials")
    doc.plot("trials_ranked", "Trials ranked by validation accuracy",
             lambda p: plots.ranked_trials(p, trials, color_by=HP_ENCODING, describe=_describer(trials), colors=colors))
    if good:
        rows = [[i, t.get("id"), _acc(t.get("val_accuracy")), _secs(t.get("seconds")), _hps_text(t["hyperparameters"])]
                for i, t in enumerate(good, start=1)]
        doc.add("### Ranking", "Only trials that completed with a finite validation accuracy are ranked.",
                _table(["rank", "trial", "val_accuracy", "seconds", "hyperparameters"], rows, ["r", "r", "r", "r", "l"]))
    ok = {id(t) for t in good}
    bad = sorted((t for t in trials if id(t) not in ok), key=lambda t: _id_key(t.get("id")))
    if bad:
        rows = [[t.get("id"), t.get("status", "?"), _secs(t.get("seconds")),
                 t.get("reason") or ("no finite val_accuracy" if t.get("status") == "COMPLETED" else "no reason recorded"),
                 _hps_text(t["hyperparameters"])] for t in bad]
        doc.add("### Failed trials", f"{len(bad)} trial(s) failed or ended without a finite score; they are not ranked.",
                _table(["trial", "status", "seconds", "reason", "hyperparameters"], rows, ["r", "l", "r", "l", "l"]))


def _by_section(doc: _Doc, trials: list[dict], *, title: str, what: str, plot_name: str,
                key: Callable[[dict], Any], order: Sequence[Any], colors: dict | None = None) -> None:
    stats = score_by(trials, key, order)
    doc.add(f"### {title}")
    if not stats:
        doc.add(f"No trial records a {what}.")
        return
    rows = [[s["category"], s["trials"], s["failed"], _acc(s["mean"]), _acc(s["best"])] for s in stats]
    table = _table([what, "trials", "failed", "mean val_accuracy", "best val_accuracy"], rows, ["l", "r", "r", "r", "r"])
    scored = [s for s in stats if s["scores"]]
    if len(stats) < 2:
        doc.add(f"Only one {what} was searched ({stats[0]['category']}).", table)
        return
    if scored:
        cats = [s["category"] for s in stats]
        values = [(s["category"], v) for s in stats for v in s["scores"] + [None] * s["failed"]]
        doc.plot(plot_name, f"Validation accuracy by {what}", lambda p: plots.strip_by_category(
            p, [c for c, _ in values], [v for _, v in values], f"Validation accuracy by {what}",
            "validation accuracy", order=cats, xlabel=what, colors=colors))
    doc.add(table)


def _freeze_key(trials: list[dict]) -> Callable[[dict], Any]:
    backbones = {t["hyperparameters"].get(HP_BACKBONE) for t in trials}

    def key(t: dict) -> Any:
        hps = t["hyperparameters"]
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


def _scores_section(doc: _Doc, trials: list[dict], config: dict, enc_colors: dict) -> None:
    doc.add("## Score by hyperparameter",
            "Each point is one trial; the black line is the mean over the scored trials with that value. "
            "A random search samples values unevenly, so compare the best scores as well as the means.")
    present = [t for t in trials if t["hyperparameters"].get(HP_BACKBONE) is not None]
    _by_section(doc, present, title="Backbone", what="backbone", plot_name="score_by_backbone",
                key=lambda t: t["hyperparameters"].get(HP_BACKBONE), order=_space_list(config, "backbones"))
    present = [t for t in trials if t["hyperparameters"].get(HP_ENCODING) is not None]
    _by_section(doc, present, title="Order encoding", what="order encoding", plot_name="score_by_order_encoding",
                key=lambda t: t["hyperparameters"].get(HP_ENCODING), order=_space_list(config, "order_encodings"),
                colors=enc_colors)
    key = _freeze_key(trials)
    present = [t for t in trials if key(t) is not None]
    # Shallow to deep: all (train nothing), the cut points as configured, none (train everything).
    configured = {c: i for i, c in enumerate(_space_list(config, "freeze"))}
    raw = {key(t): freeze_of(t["hyperparameters"]) for t in present}
    cuts = sorted(set(raw) - {FREEZE_ALL, FREEZE_NONE}, key=lambda k: (configured.get(raw[k], len(configured)), str(k)))
    freeze_order = [FREEZE_ALL, *cuts, FREEZE_NONE]
    _by_section(doc, present, title="Freeze point", what="freeze point", plot_name="score_by_freeze",
                key=key, order=freeze_order)


def _test_section(doc: _Doc, run_dir: Path, results: dict, classes: list[str]) -> None:
    best = results.get("best")
    if not best:
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
    doc.add(f"{m['correct']} of {m['n']} test images correct (accuracy {_acc(m['accuracy'])}), "
            f"recomputed from `{TEST_PREDICTIONS}`.")
    recorded = best.get("test_accuracy")
    if is_finite(recorded) and abs(recorded - m["accuracy"]) > 1e-6:
        doc.add(f"> **Note**: results.json records a test accuracy of {_acc(recorded)}, which differs from "
                f"`{TEST_PREDICTIONS}`; the file may have been edited or comes from another run.")
    doc.add("### Confusion matrix")
    doc.plot("confusion_matrix", "Confusion matrix of the best model on the test split", lambda p: plots.confusion_matrix(
        p, m["classes"], m["matrix"], f"Best model (trial {best.get('trial')}) on the test split"))
    doc.add("### Accuracy per upload order",
            "Upload position of each photo: 1 = front, 2 = back, 3 = other, 0 = unknown. "
            "Intervals are 95% Wilson intervals over images (photos of one object are not independent, "
            "so read them as a lower bound on the uncertainty).")
    per = m["per_order"]
    table_rows = [[o, order_name(o), s["n"], s["correct"], _acc(s["accuracy"]),
                   f"[{s['low']:.3f}, {s['high']:.3f}]"] for o, s in per.items()]
    doc.plot("test_accuracy_by_order", "Test accuracy per upload order", lambda p: plots.bar_with_ci(
        p, [f"{order_name(o)} ({o})" for o in per], [s["accuracy"] for s in per.values()],
        [s["low"] for s in per.values()], [s["high"] for s in per.values()],
        "Test accuracy of the best model per upload order", "test accuracy",
        notes=[f"{s['correct']}/{s['n']}" for s in per.values()], ylim=(0.0, 1.18)))
    doc.add(_table(["order", "meaning", "images", "correct", "accuracy", "95% interval"], table_rows,
                   ["r", "l", "r", "r", "r", "l"]))


def _dataset_section(doc: _Doc, ds: dict) -> None:
    if not isinstance(ds, dict) or not ds:
        return
    rows: list[list[Any]] = []
    if ds.get("manifest"):
        rows.append(["manifest", ds["manifest"]])
    for key, label in (("images", "images"), ("objects", "objects"), ("image_size", "image size (px)")):
        if ds.get(key) is not None:
            rows.append([label, ds[key]])
    classes = ds.get("classes")
    if isinstance(classes, list):
        shown = ", ".join(str(c) for c in classes[:30]) + (f", ... ({len(classes) - 30} more)" if len(classes) > 30 else "")
        rows.append(["classes", f"{len(classes)}: {shown}"])
    if "has_order" in ds:
        rows.append(["order column", "yes" if ds["has_order"] else "no (every photo is unknown, 0)"])
    if ds.get("order_values_train") is not None:
        rows.append(["order values (train)", ", ".join(str(v) for v in ds["order_values_train"])])
    conv = ds.get("converted_images")
    if conv:
        rows.append(["converted to RGB", ", ".join(f"{k}: {v}" for k, v in conv.items()) if isinstance(conv, dict) else conv])
    if ds.get("exif_rotated"):
        rows.append(["EXIF-rotated images", ds["exif_rotated"]])
    skipped = ds.get("skipped_rows") or []
    if skipped:
        rows.append(["skipped rows", len(skipped)])
    if ds.get("fingerprint"):
        rows.append(["data fingerprint", ds["fingerprint"]])
    doc.add("## Dataset", _table(["", "value"], rows, ["l", "l"]))
    ips, ops = ds.get("images_per_split") or {}, ds.get("objects_per_split") or {}
    splits = [s for s in ("train", "val", "test") if s in ips or s in ops]
    if splits:
        doc.add(_table(["split", "images", "objects"], [[s, ips.get(s, "-"), ops.get(s, "-")] for s in splits], ["l", "r", "r"]))
    if skipped:
        lines = [[r.get("line", "?"), r.get("reason", "")] if isinstance(r, dict) else ["?", r] for r in skipped[:20]]
        doc.add("Skipped rows (first 20):" if len(skipped) > 20 else "Skipped rows:", _table(["line", "reason"], lines, ["r", "l"]))


def _environment_section(doc: _Doc, results: dict, config_text: str | None) -> None:
    doc.add("## Environment")
    rows = [[k, v if v is not None else "not installed"] for k, v in (results.get("versions") or {}).items()]
    if rows:
        doc.add(_table(["library", "version"], rows, ["l", "l"]))
    facts = []
    if is_finite(results.get("seconds")):
        facts.append(f"Total trial time: {results['seconds']:.1f} s (sum over trials).")
    cache = results.get("cache")
    if isinstance(cache, dict) and cache.get("backbone_passes") is not None:
        facts.append(f"Backbone passes over the data (feature cache): {cache['backbone_passes']}.")
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
    results = _load_results(run_dir)
    trials = results["trials"]
    good = ranked(trials)
    config_text, config = _load_config(run_dir)
    classes = _load_classes(run_dir, results)
    encodings = _space_list(config, "order_encodings") + [t["hyperparameters"].get(HP_ENCODING) for t in trials]
    enc_colors = plots.category_colors([e for e in encodings if e is not None])

    doc = _Doc(run_dir)
    doc.add(f"# Search report: {_md(run_dir.resolve().name)}")
    _summary(doc, results, good, config)
    _best_section(doc, results.get("best"))
    _trials_section(doc, trials, good, enc_colors)
    _scores_section(doc, trials, config, enc_colors)
    _test_section(doc, run_dir, results, classes)
    _dataset_section(doc, results.get("dataset") or {})
    _environment_section(doc, results, config_text)
    doc.add(f"<sub>Rendered by `autoorder report` (autoorder {__version__}) from `{RESULTS}`.</sub>")
    path = run_dir / REPORT
    write_text(path, doc.text())
    return path
