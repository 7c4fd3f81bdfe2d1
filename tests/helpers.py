"""Small builders shared by tests: tiny image datasets written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size: int = 16, value: int = 128, mode: str = "RGB", mark: int | None = None) -> Path:
    """A flat image; `mark` sets one corner pixel, so that the photos of two objects are different files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size, size, 3), value, dtype=np.uint8)
    if mark is not None:
        arr[0, 0] = mark % 256
    Image.fromarray(arr, "RGB").convert(mode).save(path)
    return path


def write_manifest(root: Path, rows: list[list], header=("image", "label", "order", "object_id")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = ",".join(header) + "\n" + "".join(",".join(str(c) for c in r) + "\n" for r in rows)
    p = root / "manifest.csv"
    p.write_text(text, encoding="utf-8")
    return p


def simple_dataset(root: Path, classes=("a", "b"), objects_per_class=4, size=16) -> Path:
    """Each object: 3 photos with orders 1,2,3; class decides the brightness, the object one corner pixel."""
    rows = []
    for ci, c in enumerate(classes):
        for k in range(objects_per_class):
            obj = f"{c}{k}"
            for order in (1, 2, 3):
                rel = f"img/{obj}_{order}.png"
                write_image(root / rel, size, value=(40 + 70 * ci + 10 * order) % 256, mark=k)
                rows.append([rel, c, order, obj])
    return write_manifest(root, rows)


def small_search_config(root: Path, **tuner) -> Path:
    """A tiny tiny_cnn search over `simple_dataset` (3 classes x 5 objects, 16 px); returns the config."""
    import yaml

    simple_dataset(root / "data", classes=("a", "b", "c"), objects_per_class=5)
    config = {
        "data": {"manifest": "data/manifest.csv", "image_size": 16},
        "space": {
            "backbones": "tiny_cnn",
            "weights": None,
            "freeze": "none",
            "head_depth": [0, 1],
            "order_encodings": ["none", "onehot"],
            "learning_rate": [0.01, 0.003],
            "batch_size": 8,
        },
        "tuner": {"patience": 0, "seed": 0, **tuner},
        "plugins": {"paths": [], "entry_points": False},
    }
    p = root / "c.yaml"
    p.write_text(yaml.safe_dump(config))
    return p
