"""`autoorder demo`: the embedded default, offline, a few minutes on a laptop CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from autoorder.config import dump_yaml, load_config
from autoorder.errors import RunError

# Glyphs that turn into one another when mirrored or turned: the upload order tells them apart.
DEMO_CLASSES = "bdpqnu69"

DEMO_CONFIG = {
    "data": {"manifest": "data/manifest.csv", "image_size": 32, "split": {"val": 0.2, "test": 0.2, "seed": 0}},
    "space": {
        "backbones": ["tiny_cnn"],
        "weights": None,
        "freeze": ["none", "block1_pool"],
        "head_depth": [0, 1],
        "head_width": [64],
        "dropout": [0.0, 0.2],
        "order_encodings": ["none", "onehot", "film"],
        "learning_rate": [0.003, 0.001],
        "batch_size": 32,
    },
    "tuner": {"algorithm": "random", "max_trials": 6, "epochs": 20, "seed": 0, "patience": 5},
}


def run_demo(out: str | Path, log: Callable[[str], None] | None = None, objects: int = 240) -> dict:
    """Make the data (once), write the config, run or resume the search."""
    from autoorder.datasets import make_dataset
    from autoorder.search import run_search

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
    return run_search(cfg, out / "run", log=log)
