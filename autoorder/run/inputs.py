"""What predict, evaluate and export read and check before TensorFlow is imported.

The run folder (results, classes, the config it ran with), the manifest, and where a file is to
be written. This module never imports TensorFlow or Keras (an import-linter contract), so that a
missing folder, a missing file or a missing extra is reported in a fraction of a second.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


from autoorder.core.errors import ConfigError, DataError, RunError
from autoorder.core.fileio import check_writable
from autoorder.data.manifest import Manifest, read_manifest
from autoorder.run.runfiles import read_labels, read_run_config
from autoorder.schema.results import BEST_MODEL, RunResults, read_results

# `autoorder export --format` -> Keras' `Model.export(format=...)`.
EXPORT_FORMATS = {"savedmodel": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
ONNX_MODULES = ("tf2onnx", "onnx")  # what Keras' ONNX export imports (the `onnx` extra)


@dataclass(frozen=True)
class FinishedRun:
    """A run folder with a best model: its results, class names and the data settings it ran with."""

    path: Path
    results: RunResults
    classes: list[str]
    columns: dict
    max_pixels: int

    @property
    def model_path(self) -> Path:
        return self.path / BEST_MODEL


def open_run(run_dir: str | Path) -> FinishedRun:
    """RUN_DIR of a finished search, checked (folder, results.json, best model, labels, config).

    Raises:
        RunError: the folder or one of its files is missing or corrupt.
    """
    run_dir = Path(run_dir)
    results = read_results(run_dir)  # a clear error if RUN_DIR is not a run folder
    model = run_dir / BEST_MODEL
    if not model.is_file():
        raise RunError(f"{str(model)!r} does not exist. Expected a finished search in {str(run_dir)!r}.")
    classes = read_labels(run_dir)  # checked: distinct names, at least two
    data = read_run_config(run_dir).data  # checked like any config
    return FinishedRun(run_dir, results, classes, dict(data.columns), int(data.max_image_pixels))


def read_rows(run: FinishedRun, manifest: str | Path, *, need_label: bool = False) -> Manifest:
    """MANIFEST read with the run's column names; order and object id optional (missing order: unknown).

    With `need_label`, every label must be one of the run's classes (the model knows no other).
    """
    m = read_manifest(manifest, run.columns, strict_order=False, need_label=need_label, require_order=False, require_group=False)
    if need_label:
        known = set(run.classes)
        unknown = sorted({r.label for r in m.rows if r.label not in known})
        if unknown:
            first = next(r for r in m.rows if r.label not in known)
            raise DataError(
                f"Manifest {str(m.path)!r}: label(s) {unknown[:10]} (first at line {first.line}) are not classes of the run "
                f"in {str(run.path)!r}. Expected one of {run.classes}."
            )
    return m


def check_out(out: str | Path, overwrite: bool) -> None:
    """A file (or folder) to be written: refused when it exists, unless `overwrite`; its folder
    must be writable (checked now, not after the work)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunError(f"{str(out)!r} exists; nothing was written. Pass --overwrite to replace it, or choose another --out.")
    check_writable(out.parent, "folder of --out")


def check_export(fmt: str, out: str | Path, overwrite: bool) -> None:
    """The format is known, its tools are installed, and `out` can be written."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"The 'format' parameter of export must be one of {sorted(EXPORT_FORMATS)}. Got {fmt!r} instead.")
    if fmt == "litert" and not str(out).endswith(".tflite"):
        raise ConfigError(f"A LiteRT model is a .tflite file. Got --out {str(out)!r} instead (e.g. {str(out) + '.tflite'!r}).")
    if fmt == "onnx":
        missing = [m for m in ONNX_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            raise RunError(
                f"Export to ONNX needs {', '.join(missing)}, which is not installed. "
                "Install the extra: pip install 'autoorder[onnx]' (tf2onnx, onnx; onnxruntime to run the model)."
            )
    check_out(out, overwrite)
