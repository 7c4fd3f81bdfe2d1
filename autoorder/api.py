"""The Python API: the same pipeline as the CLI, for notebooks and scripts.

```python
import autoorder
run = autoorder.search("search.yaml", out="runs/x", overrides={"tuner.max_trials": 20})
run.leaderboard()                 # [{trial, score, hyperparameters, seconds, status}, ...], best first
model = run.best_model()          # keras.Model: inputs image (uint8 pixels) and order (int)
probs = run.predict(images, orders)   # (n, len(run.classes))
run = autoorder.load_run("runs/x")
run.evaluate("new/manifest.csv")  # {"accuracy", "balanced_accuracy", "per_class", "per_order", "per_object", ...}
run.export("onnx", "model.onnx")  # or "savedmodel", "litert"
autoorder.benchmark("search.yaml", out="bench/x", seeds=5, repeats=5)
```

Library code never prints: progress lines go to `log` (a callable), when given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoorder.model.quiet import import_tensorflow

import_tensorflow()  # before Keras is imported below: TensorFlow backend, start-up notices silenced

import keras  # noqa: E402

from autoorder.benchmarking.protocol import run_benchmark  # noqa: E402
from autoorder.core.config import Config, apply_values, from_dict, load_config  # noqa: E402
from autoorder.core.errors import ConfigError, DataError  # noqa: E402
from autoorder.data.images import BadImage, resize_images  # noqa: E402
from autoorder.run.deploy import export_run  # noqa: E402
from autoorder.run.evaluate import evaluate_manifest  # noqa: E402
from autoorder.run.predict import image_size_of, load_best_model  # noqa: E402
from autoorder.run.runfiles import read_labels  # noqa: E402
from autoorder.run.search import run_search  # noqa: E402
from autoorder.schema.benchmark import BenchmarkResult  # noqa: E402
from autoorder.schema.results import RunResults, read_results  # noqa: E402

Log = Callable[[str], None]
PREDICT_BATCH = 64


def _config(config: str | Path | dict | Config, overrides: dict | None) -> Config:
    if isinstance(config, Config):
        if overrides:
            return from_dict(apply_values(config.to_dict(), overrides), config.source, config.base_dir)
        return config
    if isinstance(config, dict):
        return from_dict(apply_values(config, overrides or {}), "<dict>", Path.cwd())
    if isinstance(config, (str, Path)):
        cfg = load_config(config)
        return _config(cfg, overrides) if overrides else cfg
    raise ConfigError(f"The 'config' parameter of autoorder.search must be a path, a dict or a Config. Got {type(config).__name__} instead.")


class Run:
    """A finished (or resumed) search folder: its results, best model and predictions."""

    def __init__(self, path: str | Path, results: RunResults | None = None):
        self.path = Path(path)
        self.results = results if results is not None else read_results(self.path)
        self._model: keras.Model | None = None

    def __repr__(self) -> str:
        best = self.results.best
        score = f", best val_accuracy {best.val_accuracy:.4f}" if best is not None and best.val_accuracy is not None else ""
        return f"Run({str(self.path)!r}, {len(self.results.trials)} trials{score})"

    @property
    def classes(self) -> list[str]:
        """Class names in the order of the model's outputs."""
        return read_labels(self.path)

    def leaderboard(self) -> list[dict]:
        """Scored trials, best first (equal scores: the earlier best epoch, then the lower trial id)."""
        return [
            {"trial": t.id, "score": t.val_accuracy, "hyperparameters": dict(t.hyperparameters), "seconds": t.seconds,
             "status": t.status}
            for t in self.results.ranked()
        ]

    def best_model(self) -> keras.Model:
        """best_model.keras, loaded in safe mode (cached)."""
        if self._model is None:
            self._model = load_best_model(self.path, self.classes)
        return self._model

    def predict(self, images: Any, orders: Any = None) -> np.ndarray:
        """Class probabilities (n, len(classes)) for uint8 RGB images (n, h, w, 3) and their orders.

        Images are resized to the run's image size as the search did; `orders` None means every
        photo's order is unknown (0).
        """
        model = self.best_model()
        size = image_size_of(model)
        try:
            pixels = resize_images(np.asarray(images), size)
        except BadImage as e:
            raise DataError(f"The 'images' parameter of Run.predict is not usable: {e}.") from None
        n = len(pixels)
        orders = np.zeros(n, dtype=np.int32) if orders is None else np.asarray(orders, dtype=np.int32).reshape(-1)
        if len(orders) != n:
            raise DataError(f"The 'orders' parameter of Run.predict must have one order per image ({n}). Got {len(orders)} instead.")
        return model.predict({"image": pixels.astype(np.float32), "order": orders}, batch_size=PREDICT_BATCH, verbose=0)

    def evaluate(self, manifest: str | Path, log: Log | None = None) -> dict:
        """Score the best model on a labelled manifest (the run's column names; order and object id optional).

        Returns what `autoorder evaluate --out EVAL.json` writes: `accuracy`, `balanced_accuracy`,
        `per_class` (precision, recall, f1, support), `per_order` ("0": unknown), `per_object`
        (views combined; None without an object-id column) and `confusion_matrix`.
        """
        return evaluate_manifest(self.path, manifest, log=log)

    def export(self, format: str, out: str | Path, *, overwrite: bool = False) -> Path:  # noqa: A002 - the CLI's name
        """Write the best model as `savedmodel` (a folder), `litert` (a .tflite file) or `onnx`; returns `out`."""
        return export_run(self.path, format, out, overwrite=overwrite)


def search(
    config: str | Path | dict | Config,
    out: str | Path,
    *,
    overrides: dict | None = None,
    overwrite: bool = False,
    log: Log | None = None,
    verbose: bool = False,
) -> Run:
    """Run (or resume) the search of `config` (a YAML path, a dict or a Config) into `out`.

    `log` gets the progress lines (a line per trial; with `verbose`, also a line per epoch)."""
    cfg = _config(config, overrides)
    for w in cfg.warnings():
        (log or (lambda line: None))(f"warning: {w}")
    results = run_search(cfg, out, overwrite=overwrite, log=log, verbose=verbose)
    return Run(out, results)


def load_run(path: str | Path) -> Run:
    """An existing run folder."""
    return Run(path)


def benchmark(
    config: str | Path | dict | Config,
    out: str | Path,
    *,
    seeds: int = 3,
    repeats: int = 1,
    overrides: dict | None = None,
    overwrite: bool = False,
    log: Log | None = None,
    verbose: bool = False,
) -> BenchmarkResult:
    """Run (or resume) the benchmark protocol of `config` into `out`; what benchmark.json holds.

    `repeats` outer repeats (each its own split and searches), `seeds` retrainings of each arm's
    best configuration in each repeat. `log` gets the progress lines (searches, each retraining
    with its best epoch and an ETA; with `verbose`, also a line per epoch)."""
    return run_benchmark(_config(config, overrides), out, seeds=seeds, repeats=repeats, overwrite=overwrite, log=log,
                         verbose=verbose)
