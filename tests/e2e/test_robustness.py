"""Robustness beyond the happy path, through the CLI: one table per class of issue 16.

1 full disk, 2 hostile YAML, 3 unwritable targets, 4 foreign or damaged run files, 5 paths and
sizes, 6 seed ranges, 7 non-regular files, 8 data that lies, 9 quiet surprises.

Every case asserts the exit code, the one message (no traceback), and that nothing the user
had was lost or left behind: the data and config are unchanged, an existing run folder is
unchanged where the command failed before writing, and no temporary file is left anywhere.
Full and read-only disks are real (a small tmpfs) where the tests run as root and may mount;
elsewhere a fake writer raises the OSError the kernel would.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from autoorder.cli import main
from autoorder.core import fileio
from tests.helpers import small_search_config

pytestmark = pytest.mark.slow



def lol(indent: str) -> str:
    """A 'billion laughs' mapping: 9**9 values from ~400 bytes, once the aliases are followed."""
    lines = ["a: &a [" + ",".join(["lol"] * 9) + "]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    return "".join(f"{indent}{line}\n" for line in lines)


# ----- helpers -------------------------------------------------------------------------------------
def invoke(*args: Any) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output  # click >= 8.2: stdout and stderr together


def assert_one_error(code: int, out: str, match: str, exit_code: int = 1) -> None:
    assert code == exit_code, out
    assert "Traceback" not in out, out
    assert out.count("Error: ") == 1, out
    assert re.search(match, out, re.S), out


# Rewritten, with the same meaning, by every session of a resumed search (state, not results).
SESSION_FILES = ("run.json", "config.resolved.yaml", "split.csv", "oracle.json", "tuner0.json")


def snapshot(root: Path, skip: tuple[str, ...] = (), names: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under `root` (path -> sha256); folders named in `skip` and files named in `names` left out."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not p.is_symlink() and not (rel.parts and rel.parts[0] in skip) and p.name not in names:
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(root: Path) -> list[str]:
    """Temporary files of a write (hidden `.NAME.xxxx.tmp`, probes, partial caches) left anywhere."""
    return [str(p) for p in root.rglob(".*")]


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"blocked for more than {seconds}s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def can_mount() -> bool:
    """Root with mount; AUTOORDER_TESTS_NO_MOUNT=1 runs the fake writers instead (their own check)."""
    return os.geteuid() == 0 and shutil.which("mount") is not None and not os.environ.get("AUTOORDER_TESTS_NO_MOUNT")


@contextlib.contextmanager
def tmpfs(path: Path, size: str, options: str = "") -> Iterator[Path | None]:
    """A real filesystem of `size` at `path` (None where mounting is not possible)."""
    path.mkdir(parents=True, exist_ok=True)
    if not can_mount():
        yield None
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def readonly(path: Path, monkeypatch: pytest.MonkeyPatch, fill: Path | None = None) -> Iterator[tuple[Path, str]]:
    """A folder (with a copy of `fill`) that cannot be written, and the reason a message gives.

    Root and mount: a read-only tmpfs (EROFS). Not root: chmod 555 (EACCES). Root without mount:
    the write path's own calls raise EROFS for that folder (a fake writer)."""
    with tmpfs(path, "8m") as mounted:
        if fill is not None:
            shutil.copytree(fill, path, dirs_exist_ok=True)
        if mounted is not None:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
            yield path, "the filesystem is read-only"
            return
        if os.geteuid() != 0:
            modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if p.is_dir()}
            for p in modes:
                p.chmod(0o555)
            try:
                yield path, "permission denied"
            finally:
                for p, mode in modes.items():
                    p.chmod(mode)
            return
        real_mkstemp, real_mkdir = fileio.tempfile.mkstemp, Path.mkdir

        def inside(p: Any) -> bool:
            return str(Path(p).resolve()).startswith(str(path.resolve()))

        def mkstemp(*a: Any, dir: Any = None, **k: Any) -> Any:
            if dir is not None and inside(dir):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real_mkstemp(*a, dir=dir, **k)

        def mkdir(self: Path, *a: Any, **k: Any) -> None:
            if inside(self) and not self.exists():
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real_mkdir(self, *a, **k)

        monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(Path, "mkdir", mkdir)
        yield path, "the filesystem is read-only"


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-trial search: ROOT/c.yaml, ROOT/data, ROOT/run."""
    root = tmp_path_factory.mktemp("robust")
    small_search_config(root, max_trials=1, epochs=1)
    code, out = invoke("search", root / "c.yaml", "--out", root / "run")
    assert code == 0, out
    return root


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A config and data of its own (3 classes x 5 objects, 16 px), nothing run yet."""
    small_search_config(tmp_path, max_trials=1, epochs=1)
    return tmp_path


def moved(searched: Path, dest: Path) -> Path:
    """A copy of the searched folder (config, data, run) at `dest`, its run pointing at the copy's data."""
    shutil.copytree(searched, dest)
    state = json.loads((dest / "run" / "run.json").read_text())
    state["config"]["data"]["manifest"] = str((dest / "data" / "manifest.csv").resolve())
    (dest / "run" / "run.json").write_text(json.dumps(state))
    return dest


# ----- 1. full disk ----------------------------------------------------------------------------------
def _no_free_space_for_checkpoints(mp: pytest.MonkeyPatch, root: Path) -> None:
    real = fileio.free_bytes
    mp.setattr(fileio, "free_bytes", lambda folder: 0 if "tuner" in str(folder) else real(folder))


def _fsync_fails(name: str, code: int) -> Callable[[pytest.MonkeyPatch, Path], None]:
    def install(mp: pytest.MonkeyPatch, root: Path) -> None:
        real = os.fsync

        def fsync(fd: int) -> None:
            if f"/.{name}." in os.readlink(f"/proc/self/fd/{fd}"):
                raise OSError(code, os.strerror(code))
            real(fd)

        mp.setattr(os, "fsync", fsync)

    return install


def _model_save_fills_the_disk(mp: pytest.MonkeyPatch, root: Path) -> None:
    def save(self: Any, filepath: Any, *a: Any, **k: Any) -> None:
        Path(filepath).write_bytes(b"PK\x03\x04 half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    mp.setattr(keras.Model, "save", save)


FULL_DISK = [
    # (id, fault(monkeypatch, root) or "tmpfs", message, resume once the disk has room again)
    ("checkpoint-no-free-space", _no_free_space_for_checkpoints,
     r"Cannot write 'checkpoint.weights.h5' in the folder '[^']*tuner/trial_0': no space left on the device \(ENOSPC: about", True),
    ("results-enospc-at-fsync", _fsync_fails("results.json", errno.ENOSPC),
     r"Cannot write 'results.json' in the folder '[^']*run': no space left on the device \(ENOSPC\)", False),
    ("run-state-quota", _fsync_fails("run.json", errno.EDQUOT),
     r"Cannot write 'run.json' in the folder '[^']*run': the disk quota is exceeded \(EDQUOT\)", False),
    ("best-model-enospc-mid-save", _model_save_fills_the_disk,
     r"Cannot write the best model in the folder '[^']*run': no space left on the device", False),
    ("real-tmpfs-3mb", "tmpfs", r"Cannot write 'checkpoint.weights.h5' in the folder .*: no space left on the device", False),
]


@pytest.mark.parametrize("case", FULL_DISK, ids=[c[0] for c in FULL_DISK])
def test_full_disk_gives_one_message_and_leaves_no_torn_or_temporary_file(fresh, monkeypatch, case):
    _, fault, match, resume = case
    user = snapshot(fresh)
    with contextlib.ExitStack() as stack:
        if fault == "tmpfs":
            out = stack.enter_context(tmpfs(fresh / "disk", "3m"))
            if out is None:
                pytest.skip("needs root and mount for a real tmpfs (the fake writers cover the rest)")
            out = out / "run"
        else:
            out = fresh / "run"
            fault(monkeypatch, fresh)
        code, text = invoke("search", fresh / "c.yaml", "--out", out)
        assert_one_error(code, text, match)
        assert leftovers(fresh) == [], "a temporary file was left behind"
        assert snapshot(fresh, skip=("run", "disk")) == user  # the user's config and data are untouched
    if resume:
        monkeypatch.undo()
        code, text = invoke("search", fresh / "c.yaml", "--out", out)
        assert code == 0, text
        assert len((out / "trials.csv").read_text().splitlines()) == 1 + 1  # header + exactly max_trials


# ----- 2. hostile YAML -------------------------------------------------------------------------------
def _config(root: Path, text: str) -> None:
    (root / "c.yaml").write_text("data: {manifest: data/manifest.csv, image_size: 16}\nplugins: {paths: [], entry_points: false}\n" + text)


HOSTILE_YAML = [
    # (id, config text after data/plugins, extra args, message)
    ("billion-laughs-in-backbone-options", "space:\n  backbone_options:\n    lol:\n" + lol("      "), [],
     r"refused: line 11 \(key 'space.backbone_options.lol.f'\): this value stands for more than 100,000 values once its aliases"),
    ("billion-laughs-as-a-value", "data_lol:\n" + lol("  "), [], r"refused: line 9 \(key 'data_lol.f'\): this value stands for more than 100,000"),
    ("recursive-alias", "space: &s {backbones: [*s]}\n", [], r"refused: line 3 \(key 'space.backbones\[0\]'\): an alias refers to a value that contains it"),
    ("deep-nesting", "tuner: {max_trials: " + "[" * 80 + "]" * 80 + "}\n", [], r"nested more than 50 levels deep|nested too deeply"),
    ("huge-file", "# " + "x" * (2**20) + "\n", [], r"c.yaml' is 1,04\d,\d{3} bytes; more than 1,048,576 is refused"),
    ("huge-value-in-a-message", "tuner: {max_trials: '" + "9" * 500_000 + "'}\n", [],
     r"'tuner.max_trials' key in .* must be an int >= 1. Got '9{20,}\.\.\.9+' instead"),
    ("laughs-through-set", "", ["--set", "space.backbone_options={a: &a [1,1,1,1,1,1,1,1,1,1], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
                                "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], "
                                "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]}"],
     r"The value in --set .* is refused: .*more than 100,000 values"),
]


@pytest.mark.parametrize("command", ["validate", "search"])
@pytest.mark.parametrize("case", HOSTILE_YAML, ids=[c[0] for c in HOSTILE_YAML])
def test_hostile_yaml_is_refused_quickly_before_anything_expands_it(fresh, case, command):
    _, text, extra, match = case
    _config(fresh, text)
    user = snapshot(fresh)
    args = [command, fresh / "c.yaml", *extra] + (["--out", fresh / "run"] if command == "search" else [])
    started = time.monotonic()
    with deadline(60):
        code, out = invoke(*args)
    assert time.monotonic() - started < 30
    assert_one_error(code, out, match)
    assert len(out) < 2000  # a bounded message, not the value's repr
    assert snapshot(fresh) == user and not (fresh / "run").exists() and leftovers(fresh) == []


# ----- 3. unwritable targets -------------------------------------------------------------------------
def _search_into_a_file(root: Path, searched: Path, ro: Any) -> tuple[list, str]:
    (root / "afile").write_text("mine")
    return ["search", searched / "c.yaml", "--out", root / "afile" / "run"], r"Cannot create the run folder '[^']*afile/run': '[^']*afile' is a file, not a folder \(ENOTDIR\)"


def _search_on_readonly(root: Path, searched: Path, ro: Any) -> tuple[list, str]:
    path, reason = ro(root / "ro")
    return ["search", searched / "c.yaml", "--out", path / "run"], rf"Cannot create the run folder '[^']*ro/run': {reason}"


def _predict_on_readonly(root: Path, searched: Path, ro: Any) -> tuple[list, str]:
    path, reason = ro(root / "ro")
    return (["predict", searched / "run", searched / "data" / "manifest.csv", "--out", path / "p.csv"],
            rf"Cannot write into the folder of --out '[^']*ro': {reason}")


def _report_on_readonly_run(root: Path, searched: Path, ro: Any) -> tuple[list, str]:
    path, reason = ro(root / "ro", fill=searched / "run")
    return ["report", path], rf"Cannot write into the report folder '[^']*ro': {reason}"


def _report_where_plots_is_a_file(root: Path, searched: Path, ro: Any) -> tuple[list, str]:
    run = root / "run"
    shutil.copytree(searched / "run", run)
    (run / "plots").write_text("my notes")
    return ["report", run], r"Cannot create the plots folder '[^']*run/plots': '[^']*run/plots' is a file, not a folder"


def _dataset_on_readonly(root: Path, searched: Path, ro: Any) -> tuple[list, str]:
    path, reason = ro(root / "ro")
    return ["datasets", "make", "digits-views", "--out", path / "d", "--objects", 30], rf"Cannot create the dataset folder '[^']*ro/d': {reason}"


UNWRITABLE = [
    ("search-out-under-a-file", _search_into_a_file),
    ("search-out-read-only", _search_on_readonly),
    ("predict-out-read-only", _predict_on_readonly),
    ("report-read-only-run", _report_on_readonly_run),
    ("report-plots-is-a-file", _report_where_plots_is_a_file),
    ("datasets-make-read-only", _dataset_on_readonly),
]


@pytest.mark.parametrize("case", UNWRITABLE, ids=[c[0] for c in UNWRITABLE])
def test_unwritable_targets_give_one_message_naming_the_folder(searched, tmp_path, monkeypatch, case):
    _, make = case
    before = snapshot(searched)
    with contextlib.ExitStack() as stack:
        def ro(path: Path, fill: Path | None = None) -> tuple[Path, str]:
            return stack.enter_context(readonly(path, monkeypatch, fill))

        args, match = make(tmp_path, searched, ro)
        mine = snapshot(tmp_path)
        code, out = invoke(*args)
        assert_one_error(code, out, match)
        assert snapshot(tmp_path) == mine  # nothing written, nothing changed (a user's `plots` file included)
        assert leftovers(tmp_path) == []
    assert snapshot(searched) == before


# ----- 4. foreign or damaged run files --------------------------------------------------------------
def _write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        target = run / rel
        target.write_bytes(data if isinstance(data, bytes) else data.encode())

    return apply


def _truncate(rel: str, keep: int) -> Callable[[Path], None]:
    return lambda run: (run / rel).write_bytes((run / rel).read_bytes()[:keep])


def _before_export(breaker: Callable[[Path], None]) -> Callable[[Path], None]:
    """A search killed after its last trial, before it wrote its results (the rerun exports the
    best model from the checkpoint); a finished run with results has nothing to do on a rerun."""

    def apply(run: Path) -> None:
        breaker(run)
        (run / "results.json").unlink()

    return apply


def _foreign_model(run: Path) -> None:
    i = keras.Input((16, 16, 3), name="pixels")
    keras.Model(i, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(i))).save(run / "best_model.keras")


CHECKPOINT = "tuner/trial_0/checkpoint.weights.h5"
RUN_FILES = [
    # (id, command, breaker(run), message)
    ("config-missing", "predict", lambda run: (run / "config.resolved.yaml").unlink(), r"config.resolved.yaml' does not exist"),
    ("config-not-yaml", "predict", _write("config.resolved.yaml", "data: [\n"), r"config.resolved.yaml' is not valid YAML at line 2"),
    ("config-wrong-shape", "predict", _write("config.resolved.yaml", "data: {manifest: m.csv, columns: 3}\n"),
     r"'data.columns' key in [^ ]*config.resolved.yaml must be a mapping.*It is a run file, written by `autoorder search`"),
    ("labels-not-a-list", "predict", _write("labels.json", '{"a": 1}'), r"labels.json' must hold the class names .* Got \{'a': 1\} instead"),
    ("labels-not-json", "predict", _write("labels.json", "[a, b"), r"labels file '[^']*labels.json' is corrupt"),
    ("labels-longer-than-outputs", "predict", _write("labels.json", '["a", "b", "c", "d"]'),
     r"best_model.keras' has 3 output\(s\), but '[^']*labels.json' names 4 classes"),
    ("labels-repeated", "predict", _write("labels.json", '["a", "a", "c"]'), r"a list of at least 2 distinct"),
    ("model-other-inputs", "predict", _foreign_model, r"is not an autoorder best model: its inputs are \['pixels \(None, 16, 16, 3\)'\]"),
    ("model-truncated", "predict", _truncate("best_model.keras", 1000), r"best_model.keras' is not a .keras file \(not a whole zip archive"),
    ("checkpoint-truncated", "search", _before_export(_truncate(CHECKPOINT, 5000)),
     r"checkpoint.weights.h5' \(the best trial's weights, trial 0\) is damaged: .*truncated file"),
    ("checkpoint-not-hdf5", "search", _before_export(_write(CHECKPOINT, "not weights")), r"checkpoint.weights.h5' .* is not an HDF5 file"),
    ("run-state-not-a-mapping", "search", _write("run.json", "[1, 2]"), r"run.json' is not an autoorder run state: .* Got \[1, 2\] instead"),
    ("trial-times-not-a-mapping", "search", _write("trial_seconds.json", "[]"), r"trial_seconds.json' must map each trial id"),
]


@pytest.mark.parametrize("case", RUN_FILES, ids=[c[0] for c in RUN_FILES])
def test_foreign_or_damaged_run_files_are_named(searched, tmp_path, case):
    _, command, breaker, match = case
    root = moved(searched, tmp_path / "moved")
    run = root / "run"
    breaker(run)
    before = snapshot(root, names=SESSION_FILES)
    if command == "predict":
        args = ["predict", run, root / "data" / "manifest.csv", "--out", tmp_path / "p.csv"]
    else:
        args = ["search", root / "c.yaml", "--out", run]
    code, out = invoke(*args)
    assert_one_error(code, out, match)
    assert snapshot(root, names=SESSION_FILES) == before  # the previous best model and results are as they were
    assert not (tmp_path / "p.csv").exists() and leftovers(tmp_path) == []


# ----- 5. paths and sizes ----------------------------------------------------------------------------
def _row(line: int, text: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def apply(root: Path, mp: pytest.MonkeyPatch) -> None:
        m = root / "data" / "manifest.csv"
        rows = m.read_text().splitlines()
        rows[line - 1] = text
        m.write_text("\n".join(rows) + "\n")

    return apply


def _little_memory(root: Path, mp: pytest.MonkeyPatch) -> None:
    mp.setattr("autoorder.data.dataset.available_memory", lambda: 20_000)


PATHS_AND_SIZES = [
    ("nul-byte", _row(3, "img/a0\x00_2.png,a,2,a0"), r"line 3: image path 'img/a0\\x00_2.png' holds a NUL byte"),
    ("name-over-255-bytes", _row(3, "img/" + "x" * 300 + ".png,a,2,a0"), r"line 3: image path .* has a name of 304 bytes .*the filesystem allows 255"),
    ("path-over-4096-bytes", _row(3, "d/" * 2100 + "a.png,a,2,a0"), r"line 3: image path .* makes a path of \d+ bytes .*the OS allows 4096"),
    ("memory-estimate", _little_memory, r"its 45 images decoded at 16x16 px need about 34 KiB of memory \(45 x 16 x 16 x 3 bytes\), but only 20 KiB"),
    ("split-checked-before-decoding", _row(2, "img/a0_1.png,z,1,z9"), r"class 'z' has 1 object"),
]


@pytest.mark.parametrize("case", PATHS_AND_SIZES, ids=[c[0] for c in PATHS_AND_SIZES])
def test_paths_and_sizes_are_checked_per_row_before_decoding(fresh, monkeypatch, case):
    _, breaker, match = case
    breaker(fresh, monkeypatch)
    user = snapshot(fresh)
    code, out = invoke("validate", fresh / "c.yaml")
    assert_one_error(code, out, match)
    assert "decoded 45/45" not in out  # refused before a single image was decoded
    assert snapshot(fresh) == user and leftovers(fresh) == []


# ----- 6. seed ranges --------------------------------------------------------------------------------
SEEDS = [
    ("split-seed-too-large", "data.split.seed=99999999999", r"'data.split.seed' key in .* must be an int in \[0, 2147483647\]. Got 99999999999"),
    ("tuner-seed-too-large", "tuner.seed=99999999999", r"'tuner.seed' key in .* must be an int in \[0, 2147483647\]. Got 99999999999"),
    ("tuner-seed-2-32", "tuner.seed=4294967296", r"'tuner.seed' .* Got 4294967296"),
    ("split-seed-negative", "data.split.seed=-1", r"'data.split.seed' .* Got -1"),
    ("split-seed-largest", "data.split.seed=2147483647", None),
    ("tuner-seed-largest", "tuner.seed=2147483647", None),
]


@pytest.mark.parametrize("case", SEEDS, ids=[c[0] for c in SEEDS])
def test_every_seed_is_bounded_in_the_config(fresh, case):
    _, setting, match = case
    code, out = invoke("validate", fresh / "c.yaml", "--set", setting)
    if match is None:
        assert code == 0 and "OK: 45 images" in out, out  # the largest seed works all the way through
    else:
        assert_one_error(code, out, match)


# ----- 7. non-regular files --------------------------------------------------------------------------
def _fifo(root: Path, rel: str) -> Path:
    p = root / rel
    p.unlink(missing_ok=True)
    os.mkfifo(p)
    return p


def _socket(root: Path, rel: str) -> Path:
    p = root / rel
    p.unlink(missing_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return p


NON_REGULAR = [
    ("config-fifo", lambda r: _fifo(r, "c.yaml"), [], r"Config file '[^']*c.yaml' is a FIFO \(named pipe\), not a regular file"),
    ("manifest-fifo", lambda r: _fifo(r, "data/manifest.csv"), [], r"Manifest '[^']*manifest.csv' is a FIFO \(named pipe\), not a regular file"),
    ("manifest-char-device", lambda r: ((r / "data" / "manifest.csv").unlink(), os.symlink("/dev/zero", r / "data" / "manifest.csv")), [],
     r"Manifest '[^']*manifest.csv' is a character device, not a regular file"),
    ("manifest-socket", lambda r: _socket(r, "data/manifest.csv"), [], r"is a socket, not a regular file"),
    ("image-fifo", lambda r: _fifo(r, "data/img/a0_1.png"), [], r"line 2: img/a0_1.png: is a FIFO \(named pipe\), not a regular file"),
]


@pytest.mark.parametrize("command", ["validate", "search"])
@pytest.mark.parametrize("case", NON_REGULAR, ids=[c[0] for c in NON_REGULAR])
def test_non_regular_files_are_refused_without_blocking(fresh, case, command):
    _, breaker, extra, match = case
    breaker(fresh)
    user = snapshot(fresh)
    args = [command, fresh / "c.yaml", *extra] + (["--out", fresh / "run"] if command == "search" else [])
    with deadline(60):
        code, out = invoke(*args)
    assert_one_error(code, out, match)
    assert snapshot(fresh) == user and leftovers(fresh) == []


# ----- 8. data that lies -----------------------------------------------------------------------------
def _append(*rows: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        m = root / "data" / "manifest.csv"
        m.write_text(m.read_text() + "".join(r + "\n" for r in rows))

    return apply


DATA_THAT_LIES = [
    # (id, breaker, extra args, exit code, message)
    ("duplicate-row", _append("img/a0_1.png,a,1,a0"), [], 1, r"line 47: 'img/a0_1.png' is the same image as line 2 \('img/a0_1.png'\), twice in object 'a0'"),
    ("copied-file-same-object", lambda r: (shutil.copy(r / "data/img/a0_1.png", r / "data/img/a0_4.png"), _append("img/a0_4.png,a,4,a0")(r)), [], 1,
     r"line 47: 'img/a0_4.png' is the same image as line 2 \('img/a0_1.png'\), twice in object 'a0'"),
    ("same-image-two-labels", _append("img/a0_1.png,b,1,b9", "img/a1_1.png,b,1,b9", "img/a2_1.png,b,1,b9"), [], 1,
     r"line 47: 'img/a0_1.png' is the same image as line 2 \('img/a0_1.png'\) under another label \('b' vs 'a'\)"),
    ("same-image-two-objects", _append("img/a0_1.png,a,1,a9"), [], 1,
     r"line 47: 'img/a0_1.png' is the same image as line 2 \('img/a0_1.png'\) in another object \('a9' vs 'a0'\): "
     r"the same pixels can land in train and in test.*data.allow_shared_images: true"),
    ("duplicate-row-warned", _append("img/a0_1.png,a,1,a0"), ["--set", "data.on_duplicate=warn"], 0,
     r"warning: 1 row\(s\) of '[^']*manifest.csv' repeat an image of the same object \(first: line 47 = line 2"),
    ("two-labels-warned", _append("img/a0_1.png,b,1,b9", "img/a1_1.png,b,1,b9", "img/a2_1.png,b,1,b9"), ["--set", "data.on_duplicate=warn"], 0,
     r"warning: 3 row\(s\) of .* repeat an image under another label"),
    ("two-objects-allowed", _append("img/a0_1.png,a,1,a9"), ["--set", "data.allow_shared_images=true"], 0, r"OK: 46 images, 16 objects"),
    ("two-objects-not-allowed-by-warn", _append("img/a0_1.png,a,1,a9"), ["--set", "data.on_duplicate=warn"], 1, r"in another object"),
]


@pytest.mark.parametrize("case", DATA_THAT_LIES, ids=[c[0] for c in DATA_THAT_LIES])
def test_data_that_lies_is_an_error_or_a_warning_by_the_config(fresh, case):
    _, breaker, extra, code_expected, match = case
    breaker(fresh)
    user = snapshot(fresh)
    code, out = invoke("validate", fresh / "c.yaml", *extra)
    if code_expected:
        assert_one_error(code, out, match)
    else:
        assert code == 0 and "Error" not in out, out
        assert re.search(match, out), out
    assert snapshot(fresh) == user and leftovers(fresh) == []


# ----- 9. quiet surprises ---------------------------------------------------------------------------
def _changed_image(root: Path) -> None:
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(root / "data" / "img" / "b1_2.png")


def _changed_label(root: Path) -> None:
    m = root / "data" / "manifest.csv"
    m.write_text(m.read_text().replace("img/c4_1.png,c,1,c4", "img/c4_1.png,c,3,c4"))


QUIET = [
    # (id, needs a run, breaker(root), args after the command, exit code, message)
    ("duplicate-yaml-key", False, lambda r: (r / "c.yaml").write_text((r / "c.yaml").read_text() + "data:\n  image_size: 32\n"),
     ["validate"], 1, r"the key 'data' appears twice, at line 1 and line \d+ of one mapping; YAML would silently keep only the last"),
    ("duplicate-nested-key", False, lambda r: (r / "c.yaml").write_text("data:\n  manifest: data/manifest.csv\n  image_size: 16\n  image_size: 32\n"),
     ["validate"], 1, r"the key 'image_size' appears twice, at line 3 and line 4"),
    ("plugin-folder-missing", False, lambda r: None, ["validate", "--set", "plugins.paths=[my_plugins]"], 0,
     r"warning: plugins.paths in [^ ]*c.yaml names the folder '[^']*my_plugins', which does not exist"),
    ("semicolon-manifest", False, lambda r: (r / "data/manifest.csv").write_text((r / "data/manifest.csv").read_text().replace(",", ";")),
     ["validate"], 1, r"has no column 'image'.*The header looks ';'-separated \(4 fields\); autoorder reads comma-separated CSV"),
    ("changed-image-on-resume", True, _changed_image, ["search"], 1,
     r"was started on different data; resuming is refused. What changed:\n  line \d+: 'img/b1_2.png': the image file changed"),
    ("changed-order-on-resume", True, _changed_label, ["search"], 1, r"What changed:\n  line \d+: 'img/c4_1.png': order '1' -> '3'"),
    # A finished run has nothing to do without its tuner/ folder; growing it needs that folder.
    ("tuner-folder-deleted", True, lambda r: shutil.rmtree(r / "run" / "tuner"), ["search", "--set", "tuner.max_trials=2"], 1,
     r"has 1 finished trial\(s\) in trial_seconds.json but no tuner/ folder.*Restore tuner/ from a backup, or rerun with --overwrite"),
]


@pytest.mark.parametrize("case", QUIET, ids=[c[0] for c in QUIET])
def test_quiet_surprises_get_one_line(searched, fresh, tmp_path, case):
    _, needs_run, breaker, args, code_expected, match = case
    root = moved(searched, tmp_path / "moved") if needs_run else fresh
    breaker(root)
    before = snapshot(root)
    command, *rest = args
    extra = ["--out", root / "run"] if command == "search" else []
    code, out = invoke(command, root / "c.yaml", *rest, *extra)
    if code_expected:
        assert_one_error(code, out, match)
    else:
        assert code == 0, out
        assert re.search(match, out), out
    assert snapshot(root) == before and leftovers(root) == []
