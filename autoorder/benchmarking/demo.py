"""`autoorder demo`: the embedded default, offline, a few minutes on a laptop CPU.

A small version of the benchmark: glyphs that turn into one another when mirrored or turned
(b/d/p/q, n/u, 6/9), an image-only and an order-aware search with the same budget, each best
configuration retrained over three seeds, and the gain with its interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from autoorder.benchmarking.protocol import run_benchmark
from autoorder.core.config import dump_yaml, load_config
from autoorder.core.errors import RunError
from autoorder.data.generators import make_dataset
from autoorder.schema.benchmark import BenchmarkResult

DEMO_CLASSES = "bdpqnu69"
DEMO_OBJECTS = 480
DEMO_SEEDS = 3

DEMO_CONFIG = {
    "data": {"manifest": "data/manifest.csv", "image_size": 32, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    # The same search as benchmarks/glyph-views/config.yaml, whose committed result it repeats.
    "space": {
        "backbones": ["tiny_cnn"],
        "weights": None,
        "freeze": ["none"],
        "head_depth": [0, 1],
        "head_width": [64],
        "dropout": [0.2],
        "order_encodings": ["none", "onehot", "embedding", "film", "gate"],
        "learning_rate": [0.003, 0.001],
        "batch_size": 32,
    },
    # Full epochs, no early stopping: small CNNs from scratch plateau for a while before they learn.
    "tuner": {"algorithm": "random", "max_trials": 4, "epochs": 30, "seed": 0, "patience": 0},
    "plugins": {"paths": [], "entry_points": False},
}


def run_demo(out: str | Path, log: Callable[[str], None] | None = None, objects: int = DEMO_OBJECTS, seeds: int = DEMO_SEEDS) -> BenchmarkResult:
    """Make the data (once), write the config, run or resume the small benchmark."""
    log = log or (lambda s: None)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "config.yaml").exists():
        raise RunError(f"--out {str(out)!r} is not empty and is not an autoorder demo folder; nothing was changed.")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "data" / "manifest.csv").exists():
        log(f"generating glyph-views ({objects} objects of classes {DEMO_CLASSES!r}, 3 photos each) in {out / 'data'}")
        make_dataset("glyph-views", out / "data", seed=0, objects=objects, image_size=32, classes=DEMO_CLASSES)
    config_path = out / "config.yaml"
    if not config_path.exists():
        config_path.write_text(dump_yaml(DEMO_CONFIG), encoding="utf-8")
    cfg = load_config(config_path)
    return run_benchmark(
        cfg, out / "benchmark", seeds=seeds, log=log, command=f"autoorder demo --out {out}"
    )
