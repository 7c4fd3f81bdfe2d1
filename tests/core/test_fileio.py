"""Atomic writes, safe CSV and folder locks; the one write path's messages; regular files only."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from autoorder.core import fileio
from autoorder.core.errors import DataError, RunError, WriteError
from autoorder.core.fileio import (
    atomic_path,
    csv_text,
    escape_cell,
    write_csv,
    write_json,
)

pytestmark = pytest.mark.slow


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped():
    assert escape_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert escape_cell("@SUM(A1)") == "'@SUM(A1)" and escape_cell("-2+3") == "'-2+3" and escape_cell("+A1") == "'+A1"
    assert escape_cell("-cmd") == "'-cmd" and escape_cell("\t=1") == "'\t=1" and escape_cell("-") == "'-"
    assert escape_cell("chair") == "chair" and escape_cell(3) == 3
    text = csv_text(["image", "label"], [["=cmd|' /C calc'!A0", "ok"]])
    assert "'=cmd" in text


def test_numbers_are_never_escaped():
    # A label `-1` or `+2` is a number to a spreadsheet, not a formula: it stays as it is.
    for number in ("-1", "+2", "-0.5", "+.5", "-1e-3", "1E5", "-12."):
        assert escape_cell(number) == number
    assert csv_text(["label"], [["-1"], ["+2"], ["-0.5"]]) == "label\n-1\n+2\n-0.5\n"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_csv(tmp_path / "b.csv", ["x"], [[1]])
        with atomic_path(tmp_path / "c.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        os.umask(old)
    for name in ("a.json", "b.csv", "c.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.csv", "c.png"]  # no temporary file left



# ----- the one write path ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code, reason",
    [
        (errno.ENOSPC, r"no space left on the device \(ENOSPC\)"),
        (errno.EDQUOT, r"the disk quota is exceeded \(EDQUOT\)"),
        (errno.EROFS, r"the filesystem is read-only \(EROFS\)"),
        (errno.EACCES, r"permission denied \(EACCES\)"),
        (errno.EPERM, r"operation not permitted \(EPERM\)"),
    ],
)
def test_a_failed_write_is_one_message_naming_the_folder_and_leaves_no_temporary_file(tmp_path, code, reason):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(WriteError, match=rf"^Cannot write 'results.json' in the folder '{tmp_path}': {reason}\. Nothing was left half-written") as e:
        with fileio.atomic_path(target) as tmp:
            tmp.write_text("new, half")
            raise OSError(code, os.strerror(code))
    assert e.value.errno == code and e.value.folder == str(tmp_path)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(WriteError, match=rf"in the folder '{tmp_path}/f/run': '{tmp_path}/f' is a file, not a folder \(ENOTDIR\)"):
        fileio.write_text(tmp_path / "f" / "run" / "results.json", "x")
    with pytest.raises(WriteError, match=rf"^Cannot create the run folder '{tmp_path}/f/run': '{tmp_path}/f' is a file"):
        fileio.make_folder(tmp_path / "f" / "run", "run folder")
    (tmp_path / "plots").write_text("mine")
    with pytest.raises(WriteError, match=r"'[^']*plots' is a file, not a folder \(EEXIST\)"):
        fileio.write_bytes(tmp_path / "plots" / "a.png", b"x")
    assert (tmp_path / "f").read_text() == "mine" and (tmp_path / "plots").read_text() == "mine"


def test_free_space_is_checked_before_a_writer_that_could_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "free_bytes", lambda folder: 3 * fileio.MIB)
    with pytest.raises(WriteError, match=r"^Cannot write the checkpoint in the folder .*\(ENOSPC: about 1.0 MB needed, 3.0 MB free\)"):
        with fileio.atomic_path(tmp_path / "w.weights.h5", suffix=".weights.h5", need_bytes=fileio.MIB, what="the checkpoint"):
            raise AssertionError("the writer must not start")
    assert list(tmp_path.iterdir()) == []


def test_a_writers_own_error_on_a_full_disk_is_read_as_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "free_bytes", lambda folder: 10)
    with pytest.raises(WriteError, match=r"no space left on the device"):
        with fileio.atomic_path(tmp_path / "m.keras", suffix=".keras"):
            raise RuntimeError("Can't write data (file write failed)")  # h5py-like, no errno
    monkeypatch.setattr(fileio, "free_bytes", lambda folder: 10**12)
    with pytest.raises(RuntimeError, match="a bug"):  # with room on the disk, an error stays what it is
        with fileio.atomic_path(tmp_path / "m.keras", suffix=".keras"):
            raise RuntimeError("a bug")
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_get_the_mode_a_plain_write_would(tmp_path):
    fileio.write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o666 & ~fileio._umask()
    os.chmod(tmp_path / "a.txt", 0o640)
    fileio.write_text(tmp_path / "a.txt", "y")
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o640


def test_clearing_and_probing_folders_report_write_errors(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    with pytest.raises(WriteError, match=r"^Cannot write into the run folder '[^']*': the filesystem is read-only \(EROFS\)"):
        fileio.check_writable(tmp_path, "run folder")


# ----- regular files only --------------------------------------------------------------------------
def test_read_regular_refuses_what_would_block_or_never_end(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DataError, match=r"^Manifest '[^']*fifo' is a FIFO \(named pipe\), not a regular file. Expected a CSV file.$"):
        fileio.read_regular(tmp_path / "fifo", "Manifest", "a CSV file", DataError)
    with pytest.raises(RunError, match=r"is a character device"):
        fileio.read_regular("/dev/zero", "Run file", "a JSON file")
    with pytest.raises(RunError, match=r"is a folder"):
        fileio.read_regular(tmp_path, "Run file", "a JSON file")
    with pytest.raises(RunError, match=r"does not exist"):
        fileio.read_regular(tmp_path / "nope", "Run file", "a JSON file")
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(RunError, match=r"is 101 bytes; more than 100 is refused"):
        fileio.read_regular(tmp_path / "big", "Run file", "a JSON file", limit=100)
    assert fileio.read_regular(tmp_path / "big", "Run file", "x") == b"x" * 101


def test_read_json_names_a_corrupt_file(tmp_path):
    (tmp_path / "s.json").write_text("[" * 100_000)
    with pytest.raises(RunError, match=r"run state '[^']*s.json' is corrupt"):
        fileio.read_json(tmp_path / "s.json", "run state")
