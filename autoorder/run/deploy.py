"""`autoorder export`: the best model of a run as a SavedModel, a LiteRT (.tflite) or an ONNX file.

Through Keras 3's own `Model.export`. The exported graph has the inputs and output of
best_model.keras: `image` (float32 pixels 0..255, the run's image size) and `order` (int32) ->
class probabilities, in the order of RUN_DIR/labels.json. Order lookups are rewritten without
hash tables first (`autoorder.model.portable`), so that ONNX and LiteRT runtimes run them with
builtin operations only. The artifact is written beside its target and renamed into place, so a
failed export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Iterator

from autoorder.core.errors import RunError
from autoorder.model.portable import portable
from autoorder.run.inputs import EXPORT_FORMATS, check_export, open_run
from autoorder.run.predict import load_best_model

QUIET_LOGGERS = ("tf2onnx", "tensorflow", "absl")  # converters log every node they rewrite


def export_run(run_dir: str | Path, fmt: str, out: str | Path, *, overwrite: bool = False) -> Path:
    """Export the best model of RUN_DIR in format `fmt` (savedmodel | litert | onnx) to `out`.

    Raises:
        ConfigError: an unknown format, or a LiteRT path that does not end in .tflite.
        RunError: not a finished run, `out` exists (without `overwrite`), the ONNX extra is not
            installed, or the converter failed (its reason is named).
    """
    out = Path(out)
    check_export(fmt, out, overwrite)
    run = open_run(run_dir)
    model = portable(load_best_model(run.path))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")  # same suffix: LiteRT wants .tflite
    _remove(tmp)
    try:
        with _quiet():
            model.export(str(tmp), format=EXPORT_FORMATS[fmt], verbose=False)
    except Exception as e:  # noqa: BLE001 - a converter's failure becomes one message, not a traceback
        _remove(tmp)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise RunError(f"Export of {str(run.model_path)!r} to {fmt} failed: {type(e).__name__}: {reason}") from None
    except BaseException:
        _remove(tmp)
        raise
    if out.exists():
        _remove(out)  # only reached with overwrite (check_export refuses otherwise)
    os.replace(tmp, out)
    return out


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Converters' warnings and per-node logs off the terminal; their errors still raise."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
