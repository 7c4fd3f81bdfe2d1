"""predictions.csv.gz of a benchmark folder: every test prediction behind every published figure.

One row per test photo, per repeat, per retraining seed and per arm: the two models under test
(`image_only`, `order_aware`) and the controls (`shuffled_order`, `architecture_only`,
`noncompliance_1pct`, `noncompliance_5pct`, `noncompliance_20pct`, `order_unknown`, and the
seed-free `order_only` and `majority_class`, whose seed cell is empty). `order` is the order the
model was given (for the noncompliance and unknown-order controls: the altered one); `predicted`
is the photo's predicted class, `object_predicted` its object's (the object's photos combined by
summing log-probabilities; empty for the seed-free controls). Rows of one (repeat, arm, seed)
come in the same photo order for every arm and seed.

Written gzip-compressed with a fixed timestamp, so the same predictions give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoorder.core.errors import RunError
from autoorder.core.fileio import csv_text, unescape_cell, write_bytes

PREDICTIONS = "predictions.csv.gz"
COLUMNS = ("repeat", "seed", "arm", "image", "object_id", "order", "label", "predicted", "object_predicted")
NO_SEED = -1  # in memory, for the seed-free controls (an empty cell in the file)


@dataclass
class Predictions:
    """The file's columns as arrays of equal length (seed NO_SEED where the cell is empty)."""

    repeat: np.ndarray
    seed: np.ndarray
    arm: np.ndarray
    image: np.ndarray
    object_id: np.ndarray
    order: np.ndarray
    label: np.ndarray
    predicted: np.ndarray
    object_predicted: np.ndarray

    def __len__(self) -> int:
        return len(self.repeat)

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> "Predictions":
        cols = list(zip(*rows)) if rows else [()] * len(COLUMNS)
        return cls(
            repeat=np.asarray(cols[0], dtype=np.int64),
            seed=np.asarray([NO_SEED if s is None else s for s in cols[1]], dtype=np.int64),
            arm=np.asarray(cols[2], dtype=str),
            image=np.asarray(cols[3], dtype=str),
            object_id=np.asarray(cols[4], dtype=str),
            order=np.asarray(cols[5], dtype=np.int64),
            label=np.asarray(cols[6], dtype=str),
            predicted=np.asarray(cols[7], dtype=str),
            object_predicted=np.asarray(cols[8], dtype=str),
        )

    def rows(self) -> list[tuple]:
        return [
            (int(r), "" if s == NO_SEED else int(s), a, i, o, int(od), lb, p, op)
            for r, s, a, i, o, od, lb, p, op in zip(
                self.repeat, self.seed, self.arm, self.image, self.object_id, self.order, self.label,
                self.predicted, self.object_predicted,
            )
        ]


def encode(preds: Predictions) -> bytes:
    """The gzip bytes of the file (deterministic: no timestamp, no file name)."""
    text = csv_text(list(COLUMNS), preds.rows()).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="", compresslevel=9) as gz:
        gz.write(text)
    return buf.getvalue()


def write_predictions(folder: str | Path, preds: Predictions) -> Path:
    path = Path(folder) / PREDICTIONS
    write_bytes(path, encode(preds))
    return path


def _bad(path: Path, line: int, column: str, value: str, expected: str) -> RunError:
    return RunError(
        f"The predictions file {str(path)!r} is not valid: line {line}, column {column!r} must be {expected}. "
        f"Got {value!r} instead. Rerun `autoorder benchmark` to write it again, or restore the file."
    )


def read_predictions(folder: str | Path) -> Predictions:
    """FOLDER/predictions.csv.gz, every cell checked.

    Raises:
        RunError: the file is missing, not gzip, or a row does not have the expected columns and types.
    """
    path = Path(folder) / PREDICTIONS
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except FileNotFoundError:
        raise RunError(f"The predictions file {str(path)!r} does not exist. Rerun `autoorder benchmark` to write it.") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise RunError(f"The predictions file {str(path)!r} is corrupt ({e}). Restore it, or rerun `autoorder benchmark`.") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
        raise RunError(
            f"The predictions file {str(path)!r} is not valid: its header must start with {', '.join(COLUMNS)}. "
            f"Got {', '.join(header or [])!r} instead."
        )
    rows = []
    for line, cells in enumerate(reader, start=2):
        if len(cells) < len(COLUMNS):
            raise _bad(path, line, COLUMNS[len(cells)] if cells else COLUMNS[0], "", f"present ({len(COLUMNS)} columns)")
        values = {c: unescape_cell(v) for c, v in zip(COLUMNS, cells)}
        try:
            repeat = int(values["repeat"])
        except ValueError:
            raise _bad(path, line, "repeat", values["repeat"], "an integer") from None
        try:
            seed = None if values["seed"] == "" else int(values["seed"])
        except ValueError:
            raise _bad(path, line, "seed", values["seed"], "an integer or empty") from None
        try:
            order = int(values["order"])
        except ValueError:
            raise _bad(path, line, "order", values["order"], "an integer") from None
        rows.append((repeat, seed, values["arm"], values["image"], values["object_id"], order, values["label"],
                     values["predicted"], values["object_predicted"]))
    return Predictions.from_rows(rows)
