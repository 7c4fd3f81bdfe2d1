"""`autoorder predict`: the saved best model only (safe mode), one row per image.

When the manifest has the object-id column of the run's config, every row also gets its
object's prediction: the object's photos combined by summing their log-probabilities, the
same combination as the benchmark's per-object accuracy. `autoorder evaluate` decodes and
predicts through the same chunked path (`predict_probabilities`).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from autoorder.core.errors import AutoOrderError, DataError, RunError, describe
from autoorder.core.fileio import check_regular, write_csv
from autoorder.core.stats import combine_views
from autoorder.data.images import load_images
from autoorder.data.manifest import Manifest
from autoorder.run.inputs import FinishedRun, check_out, open_run, read_rows
from autoorder.run.runfiles import RESTORE
from autoorder.schema.results import BEST_MODEL, LABELS

PROBA_PREFIX = "probability_"  # --proba: one column per class, `probability_<class>`


def image_size_of(model: Any) -> int | None:
    """The square side of the model's image input, if it has one."""
    for t in model.inputs:
        shape = tuple(t.shape)
        if len(shape) == 4 and shape[-1] == 3 and shape[1] == shape[2] and shape[1]:
            return int(shape[1])
    return None


def load_best_model(run_dir: str | Path, classes: list[str] | None = None) -> Any:
    """RUN_DIR/best_model.keras, loaded in safe mode and checked: inputs `image` (H x W x 3) and
    `order`, one output per class of labels.json (when `classes` is given)."""
    path = Path(run_dir) / BEST_MODEL
    if not path.exists():
        raise RunError(f"{str(path)!r} does not exist. Expected a finished search in {str(run_dir)!r}.")
    check_regular(path, "Model", "a .keras file written by autoorder search")
    if not zipfile.is_zipfile(path):
        raise RunError(f"Model {str(path)!r} is not a .keras file (not a whole zip archive: truncated or foreign?). {RESTORE}")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except AutoOrderError:
        raise
    except Exception as e:  # noqa: BLE001 - a hostile or broken file must not escape as a traceback
        raise RunError(f"Model {str(path)!r} cannot be loaded in safe mode: {type(e).__name__}: {describe(str(e), 300)}") from None
    names = sorted(str(t.name) for t in getattr(model, "inputs", None) or [])
    if names != ["image", "order"] or image_size_of(model) is None:
        shapes = [f"{t.name} {tuple(t.shape)}" for t in getattr(model, "inputs", None) or []]
        raise RunError(
            f"Model {str(path)!r} is not an autoorder best model: its inputs are {describe(shapes, 200)}. Expected "
            f"two inputs, 'image' (None, H, H, 3) and 'order' (None,). {RESTORE}"
        )
    outputs = getattr(model, "outputs", None) or []
    width = outputs[0].shape[-1] if len(outputs) == 1 else None
    if classes is not None and width != len(classes):
        raise RunError(
            f"Model {str(path)!r} has {width if width is not None else len(outputs)} output(s), but "
            f"{str(Path(run_dir) / LABELS)!r} names {len(classes)} classes. Expected one output per class, in the order "
            f"of labels.json (a model or labels file from another run?). {RESTORE}"
        )
    return model


def predict_probabilities(run: FinishedRun, manifest: Manifest, log: Callable[[str], None] | None = None) -> np.ndarray:
    """Class probabilities (rows, classes) of the run's best model for every row of `manifest`."""
    model = load_best_model(run.path, run.classes)
    return _predict_in_chunks(model, manifest, image_size_of(model), run.max_pixels, log)


def prediction_table(
    run: FinishedRun, manifest: Manifest, *, proba: bool = False, log: Callable[[str], None] | None = None
) -> tuple[list[str], list[list]]:
    """(header, rows) of the predictions CSV: one row per image; `proba` adds one column per class."""
    classes = run.classes
    probs = predict_probabilities(run, manifest, log)
    pred = probs.argmax(axis=1)
    header = ["image", "order", "predicted", "probability"]
    rows = [[r.path, r.order or "", classes[p], round(float(probs[i, p]), 6)] for i, (r, p) in enumerate(zip(manifest.rows, pred))]
    if manifest.has_group:
        ids, which, combined = combine_views(probs, np.array([r.group for r in manifest.rows]))
        best = combined.argmax(axis=1)
        header += ["object_id", "object_predicted", "object_probability"]
        for row, k in zip(rows, which):
            row += [ids[k], classes[best[k]], round(float(combined[k, best[k]]), 6)]
    if proba:
        header += [f"{PROBA_PREFIX}{c}" for c in classes]
        for row, p in zip(rows, probs):
            row += [round(float(v), 6) for v in p]
    return header, rows


def predict_manifest(
    run_dir: str | Path,
    manifest: str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    proba: bool = False,
    log: Callable[[str], None] | None = None,
) -> int:
    """Write the predictions CSV of MANIFEST to `out`; returns the number of rows."""
    check_out(out, overwrite)  # an unwritable target fails now, not after predicting
    run = open_run(run_dir)
    header, rows = prediction_table(run, read_rows(run, manifest), proba=proba, log=log)
    write_csv(out, header, rows)
    return len(rows)


CHUNK = 512  # images decoded and held at once: memory stays flat whatever the manifest's size


def _predict_in_chunks(model: Any, m: Any, size: int, max_pixels: int, log: Callable[[str], None] | None) -> np.ndarray:
    """Class probabilities for every row, decoding CHUNK images at a time.

    Every image is checked before anything is written: the bad ones are listed together at the
    end (prediction stops at the first bad chunk, decoding goes on to find them all)."""
    n = len(m.rows)
    parts: list[np.ndarray] = []
    bad: list[tuple[int, str]] = []
    last = time.monotonic()
    for start in range(0, n, CHUNK):
        rows = m.rows[start : start + CHUNK]
        images, report = load_images([r.image for r in rows], size, max_pixels)
        bad += [(start + i, why) for i, why in report.bad]
        if not bad:
            orders = np.array([r.order for r in rows], dtype=np.int32)
            parts.append(model.predict({"image": images.astype(np.float32), "order": orders}, batch_size=64, verbose=0))
        done = start + len(rows)
        if log and done < n and time.monotonic() - last >= 15:
            last = time.monotonic()
            log(f"predicted {done}/{n} images")
    if bad:
        lines = "\n".join(f"  line {m.rows[i].line}: {m.rows[i].path}: {why}" for i, why in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise DataError(f"Manifest {str(m.path)!r}: {len(bad)} image(s) cannot be used; nothing was written:\n{lines}{more}")
    return np.concatenate(parts)  # a manifest has at least one row (read_manifest checks)
