"""predictions.csv.gz: written deterministically, read back cell for cell, damage named."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from autoorder.core.errors import RunError
from autoorder.schema.predictions import COLUMNS, NO_SEED, PREDICTIONS, Predictions, encode, read_predictions, write_predictions


def _rows():
    return [
        (0, 10000, "image_only", "images/a_front.png", "a", 1, "=cmd", "-x", "=cmd"),
        (0, 10000, "order_aware", "images/a_front.png", "a", 1, "=cmd", "=cmd", "=cmd"),
        (0, None, "order_only", "images/a_front.png", "a", 1, "=cmd", "+y", ""),
    ]


def test_round_trip_with_formula_like_cells_and_seed_free_rows(tmp_path):
    preds = Predictions.from_rows(_rows())
    path = write_predictions(tmp_path, preds)
    text = gzip.decompress(path.read_bytes()).decode()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert "'=cmd" in text and "\n0,,order_only," in text  # escaped; an empty seed cell
    back = read_predictions(tmp_path)
    assert back.rows() == preds.rows() and back.seed[2] == NO_SEED and back.label[0] == "=cmd"
    assert encode(back) == path.read_bytes() == encode(Predictions.from_rows(_rows()))  # no timestamp in the gzip header


@pytest.mark.parametrize("damage, message", [
    ("missing", r"does not exist"),
    ("not gzip", r"is corrupt"),
    ("header", r"header must start with repeat, seed"),
    ("seed", r"line 2, column 'seed' must be an integer or empty. Got 'x'"),
    ("short", r"line 2, column 'order' must be present"),
])
def test_damage_is_named(tmp_path, damage, message):
    path = tmp_path / PREDICTIONS
    lines = {"header": "a,b\n", "seed": ",".join(COLUMNS) + "\n0,x,image_only,i,o,1,a,a,a\n",
             "short": ",".join(COLUMNS) + "\n0,1,image_only,i,o\n"}
    if damage == "not gzip":
        path.write_text("plain")
    elif damage in lines:
        path.write_bytes(gzip.compress(lines[damage].encode()))
    with pytest.raises(RunError, match=message):
        read_predictions(tmp_path)


def test_empty_table():
    assert len(Predictions.from_rows([])) == 0 and np.asarray(Predictions.from_rows([]).seed).dtype == np.int64
