"""CSV manifests: rows, columns, paths kept inside the data folder, clear errors."""

import os
import re

import pytest

from autoorder.core.errors import DataError
from autoorder.data.manifest import UNKNOWN_ORDER, read_manifest
from tests.helpers import simple_dataset, write_image, write_manifest

COLS = {"image": "image", "label": "label", "order": "order", "group": "object_id"}


def test_reads_rows_and_resolves_paths(tmp_path):
    m = read_manifest(simple_dataset(tmp_path), COLS)
    assert len(m.rows) == 24 and m.labels == ["a", "b"]
    r = m.rows[0]
    assert r.line == 2 and r.order == 1 and r.group == "a0" and r.image == (tmp_path / "img/a0_1.png").resolve()


def test_custom_column_names_and_optional_group(tmp_path):
    write_image(tmp_path / "x.png")
    p = write_manifest(tmp_path, [["x.png", "cat", "2"], ["x.png", "dog", "1"]], header=("file", "cls", "pos"))
    m = read_manifest(p, {"image": "file", "label": "cls", "order": "pos", "group": None})
    assert [r.group for r in m.rows] == ["row2", "row3"] and [r.order for r in m.rows] == [2, 1]


@pytest.mark.parametrize(
    "rows, match",
    [
        ([["../x.png", "a", 1, "o"]], r"line 2.*leads outside"),
        ([["/etc/passwd", "a", 1, "o"]], r"line 2.*absolute"),
        ([["x.png", "", 1, "o"]], r"line 2.*label.*empty"),
        ([["x.png", "a", 1, ""]], r"line 2.*object id.*empty"),
        ([["x.png", "a", "", "o"]], r"line 2.*order.*Got ''"),
        ([["x.png", "a", "nan", "o"]], r"order.*Got 'nan'"),
        ([["x.png", "a", "-1", "o"]], r"order.*Got '-1'"),
        ([["x.png", "a", "1.5", "o"]], r"order.*Got '1.5'"),
        ([["x.png", "a", "99999", "o"]], r"order.*Got '99999'"),
        ([["x.png", "a", 1, "o"], ["x.png", "b", 2, "o"]], r"line 3.*object 'o' has label 'b'.*line 2.*'a'"),
        ([["x.png", "a", 1]], r"line 2: 3 fields, expected 4"),
    ],
)
def test_bad_rows(tmp_path, rows, match):
    write_image(tmp_path / "x.png")
    p = write_manifest(tmp_path, rows)
    with pytest.raises(DataError, match=match):
        read_manifest(p, COLS)


def test_whole_file_problems(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_manifest(tmp_path / "none.csv", COLS)
    with pytest.raises(DataError, match="is a folder"):
        read_manifest(tmp_path, COLS)
    p = tmp_path / "m.csv"
    p.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_manifest(p, COLS)
    p.write_text("image,label,order,object_id\n")
    with pytest.raises(DataError, match="header but no rows"):
        read_manifest(p, COLS)
    p.write_text("image,label,order\nx.png,a,1\n")
    with pytest.raises(DataError, match=r"no column 'object_id'.*data.columns.group.*null"):
        read_manifest(p, COLS)
    p.write_text("image,label,label,order,object_id\n")
    with pytest.raises(DataError, match=r"\['label'\] appear more than once"):
        read_manifest(p, COLS)
    p.write_bytes(b"image,label,order,object_id\nx.png,caf\xe9,1,o\n")
    with pytest.raises(DataError, match=r"not UTF-8.*line 2"):
        read_manifest(p, COLS)
    p.write_text("imag,label,order,object_id\nx.png,a,1,o\n")
    with pytest.raises(DataError, match=r"no column 'image'.*Did you mean 'imag'"):
        read_manifest(p, COLS)


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    outside = write_image(tmp_path / "outside" / "secret.png")
    root = tmp_path / "data"
    root.mkdir()
    os.symlink(outside, root / "link.png")
    p = write_manifest(root, [["link.png", "a", 1, "o"]])
    with pytest.raises(DataError, match="leads outside"):
        read_manifest(p, COLS)


def test_lenient_order_at_predict_time(tmp_path):
    write_image(tmp_path / "x.png")
    p = write_manifest(tmp_path, [["x.png", "a", "", "o"], ["x.png", "a", "7", "o"], ["x.png", "a", "-3", "o"]])
    m = read_manifest(p, COLS, strict_order=False)
    assert [r.order for r in m.rows] == [UNKNOWN_ORDER, 7, UNKNOWN_ORDER]



@pytest.mark.parametrize(
    "path, match",
    [
        ("img/a\x00b.png", r"line 2: image path 'img/a\\x00b.png' holds a NUL byte"),
        ("img/" + "n" * 256 + ".png", r"line 2: image path .* has a name of 260 bytes .*; the filesystem allows 255"),
        ("img/" + "é" * 128 + ".png", r"has a name of 260 bytes"),  # bytes, not characters
        ("d/" * 2100 + "x.png", r"line 2: image path .* makes a path of \d+ bytes under .*; the OS allows 4096"),
    ],
)
def test_paths_the_os_would_refuse_are_refused_on_their_row(tmp_path, path, match):
    write_manifest(tmp_path, [[path, "a", 1, "o1"]])
    with pytest.raises(DataError, match=match):
        read_manifest(tmp_path / "manifest.csv", COLS)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_header_with_another_delimiter_gets_a_hint(tmp_path, sep):
    (tmp_path / "manifest.csv").write_text(sep.join(["image", "label", "order", "object_id"]) + "\n" + sep.join(["x.png", "a", "1", "o"]) + "\n")
    with pytest.raises(DataError, match=rf"has no column 'image'.*The header looks {re.escape(repr(sep))}-separated \(4 fields\); autoorder reads comma-separated CSV"):
        read_manifest(tmp_path / "manifest.csv", COLS)


def test_a_fifo_manifest_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "manifest.csv")
    with pytest.raises(DataError, match=r"is a FIFO \(named pipe\), not a regular file. Expected a CSV file"):
        read_manifest(tmp_path / "manifest.csv", COLS)
