"""The same file content on two rows: repeated, under two labels, shared by two objects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autoorder.core.config import from_dict
from autoorder.core.errors import DataError
from autoorder.data.dataset import load_dataset
from autoorder.data.duplicates import CROSS_LABEL, REPEATED, SHARED, check_duplicates, find_duplicates
from autoorder.data.manifest import Row
from autoorder.schema.results import DatasetSummary
from tests.helpers import simple_dataset


def _row(line: int, label: str, group: str, path: str = "") -> Row:
    path = path or f"img/{line}.png"
    return Row(line, path, Path(path), label, 1, group)


ROWS = [_row(2, "a", "a0"), _row(3, "a", "a0"), _row(4, "b", "b0"), _row(5, "a", "a1"), _row(6, "a", "a2")]
DIGESTS = ["x", "x", "x", "x", "y"]  # rows 3-5 repeat row 2's file; row 6 is its own


def test_each_repeat_is_told_against_the_first_row_of_its_content():
    found = find_duplicates(ROWS, DIGESTS)
    assert [(f.row.line, f.first.line, f.kind) for f in found] == [(3, 2, REPEATED), (4, 2, CROSS_LABEL), (5, 2, SHARED)]
    assert find_duplicates(ROWS, [None] * 5) == []  # rows that failed to decode have no digest


def test_errors_list_every_refused_row_and_the_switches_that_would_keep_them():
    with pytest.raises(DataError) as e:
        check_duplicates(Path("m.csv"), ROWS, DIGESTS, "error", False)
    text = str(e.value)
    assert text.startswith("Manifest 'm.csv': 3 row(s) repeat the image of an earlier row (identical file content):")
    assert "line 3: 'img/3.png' is the same image as line 2 ('img/2.png'), twice in object 'a0'" in text
    assert "line 4: 'img/4.png' is the same image as line 2 ('img/2.png') under another label ('b' vs 'a')" in text
    assert "line 5: 'img/5.png' is the same image as line 2 ('img/2.png') in another object ('a1' vs 'a0')" in text
    assert "data.on_duplicate: warn" in text and "data.allow_shared_images: true" in text


def test_warn_keeps_repeats_and_cross_labels_but_not_shared_images():
    with pytest.raises(DataError, match=r"(?s)1 row\(s\) .*in another object.*set data.allow_shared_images: true") as e:
        check_duplicates(Path("m.csv"), ROWS, DIGESTS, "warn", False)
    assert "on_duplicate" not in str(e.value)
    report = check_duplicates(Path("m.csv"), ROWS, DIGESTS, "warn", True)
    assert report.counts == {REPEATED: 1, CROSS_LABEL: 1, SHARED: 1}
    assert report.warnings == [
        "1 row(s) of 'm.csv' repeat an image of the same object (first: line 3 = line 2, 'img/3.png'); kept because data.on_duplicate is warn",
        "1 row(s) of 'm.csv' repeat an image under another label (first: line 4 = line 2, 'img/4.png'); kept because data.on_duplicate is warn",
    ]


def _cfg(root: Path, **data) -> object:
    return from_dict({"data": {"manifest": str(root / "manifest.csv"), "image_size": 16, **data}}, "c.yaml", root)


def test_a_dataset_counts_what_it_kept_and_its_summary_says_so(tmp_path):
    manifest = simple_dataset(tmp_path, classes=("a", "b"), objects_per_class=4)
    shutil.copy(tmp_path / "img/a0_1.png", tmp_path / "img/a0_9.png")
    manifest.write_text(manifest.read_text() + "img/a0_9.png,a,3,a0\nimg/a1_1.png,a,1,a9\n")
    with pytest.raises(DataError, match=r"2 row\(s\) repeat"):
        load_dataset(_cfg(tmp_path))
    data = load_dataset(_cfg(tmp_path, on_duplicate="warn", allow_shared_images=True))
    s = data.summary()
    assert (s.repeated_images, s.cross_label_images, s.shared_images) == (1, 0, 1) and len(s.warnings) == 1
    assert [r[-1] for r in data.split_rows()][:2] == data.digests[:2] and len(data.digests[0]) == 64


def test_summaries_written_before_the_check_still_load():
    from autoorder.schema.records import Source, load

    old = load(DatasetSummary, {"manifest": "m.csv", "images": 3}, Source("results file", None))
    assert (old.repeated_images, old.cross_label_images, old.shared_images, old.warnings) == (0, 0, 0, [])


def test_memory_and_the_split_are_checked_before_any_image_is_decoded(tmp_path, monkeypatch):
    simple_dataset(tmp_path, classes=("a", "b"), objects_per_class=4)
    decoded = []
    monkeypatch.setattr("autoorder.data.dataset.decode_pixels", lambda *a, **k: decoded.append(1))
    monkeypatch.setattr("autoorder.data.dataset.available_memory", lambda: 3 * 2**20)
    with pytest.raises(DataError, match=r"its 24 images decoded at 512x512 px need about 18.0 MiB of memory .* but only 3.0 MiB is available"):
        load_dataset(_cfg(tmp_path, image_size=512))
    with pytest.raises(DataError, match=r"too few for a stratified train/val/test split"):
        load_dataset(_cfg(tmp_path, split={"val": 0.4, "test": 0.4}))
    assert decoded == []
