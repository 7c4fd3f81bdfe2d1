"""`autoorder evaluate`: how good the best model of a run is on a labelled manifest.

The images are decoded and predicted through predict's chunked path (memory stays flat), then
scored with scikit-learn: accuracy, balanced accuracy, precision / recall / F1 / support per
class, accuracy per upload order, per object (an object's photos combined by summing their
log-probabilities, as `predict` and the benchmark do) and the confusion matrix. The result is
plain data, the content of EVAL.json.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support

from autoorder.core.fileio import write_json
from autoorder.core.stats import combine_views
from autoorder.data.manifest import Manifest
from autoorder.run.inputs import FinishedRun, open_run, read_rows
from autoorder.run.predict import predict_probabilities

Log = Callable[[str], None]


def evaluate_manifest(run_dir: str | Path, manifest: str | Path, *, log: Log | None = None) -> dict:
    """Score the best model of RUN_DIR on MANIFEST (labels required, one of the run's classes each)."""
    run = open_run(run_dir)
    return evaluate_rows(run, read_rows(run, manifest, need_label=True), log=log)


def evaluate_rows(run: FinishedRun, manifest: Manifest, *, log: Log | None = None) -> dict:
    """What EVAL.json holds, for rows already read (`read_rows(run, manifest, need_label=True)`)."""
    probs = predict_probabilities(run, manifest, log)
    index = {c: i for i, c in enumerate(run.classes)}
    y = np.array([index[r.label] for r in manifest.rows])
    orders = np.array([r.order for r in manifest.rows])
    groups = np.array([r.group for r in manifest.rows]) if manifest.has_group else None
    scores = score(probs, y, run.classes, orders, groups)
    best = run.results.best
    return {
        "run": str(run.path.resolve()),
        "manifest": str(manifest.path.resolve()),
        "trial": best.trial if best is not None else None,
        **scores,
    }


def score(probs: np.ndarray, y: np.ndarray, classes: Sequence[str], orders: np.ndarray, groups: np.ndarray | None) -> dict:
    """Accuracy, balanced accuracy, per class, per order, per object and the confusion matrix.

    `probs` (rows, classes) and `y` (class indices) per photo; `orders` (0: missing or unknown,
    `autoorder.data.manifest.UNKNOWN_ORDER`);
    `groups` the object id of each photo, or None (then `per_object` is None).
    """
    pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_order = {}
    for o in sorted(set(int(v) for v in orders)):
        m = orders == o
        per_order[str(o)] = {"n": int(m.sum()), "accuracy": float((pred[m] == y[m]).mean())}
    per_object = None
    if groups is not None:
        ids, which, combined = combine_views(probs, groups)
        obj_y = np.zeros(len(ids), dtype=int)
        obj_y[which] = y  # one label per object (the manifest reader checks it)
        obj_pred = combined.argmax(axis=1)
        per_object = {
            "objects": int(len(ids)),
            "accuracy": float((obj_pred == obj_y).mean()),
            "balanced_accuracy": _balanced(obj_y, obj_pred),
        }
    return {
        "images": int(len(y)),
        "classes": list(classes),
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": _balanced(y, pred),
        "per_class": {
            c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "per_order": per_order,
        "per_object": per_object,
        "confusion_matrix": {
            "labels": list(classes),
            "rows": "true class",
            "columns": "predicted class",
            "matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        },
    }


def write_evaluation(out: str | Path, evaluation: dict) -> None:
    write_json(out, evaluation)


def _balanced(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in `y` (scikit-learn's balanced accuracy)."""
    with warnings.catch_warnings():
        # A predicted class absent from `y` is scored as it should be; scikit-learn warns about it.
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y, pred))
