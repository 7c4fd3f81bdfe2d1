"""Small builders shared by tests: tiny image datasets written to tmp_path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

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


def fake_predictions(repeats: int = 2, seeds: int = 3, objects: int = 20, classes=("bird", "cat", "dog"), *,
                     io_back: float = 0.4, aware_back: float = 0.95, seed: int = 0):
    """A predictions.csv.gz table as a benchmark writes it, without training anything.

    Every repeat tests `objects` objects of 3 photos (orders 1, 2, 3; the last photo of the last
    object has order 0). Both models are right on most front and other photos; on back photos
    image-only is right with probability `io_back`, order-aware with `aware_back`. Controls: the
    shuffled, constant-order and unknown-order arms behave like image-only, noncompliance like
    order-aware, and the seed-free order-only and majority arms always answer the first class.
    """
    from autoorder.schema.predictions import Predictions

    rng = np.random.default_rng(seed)
    k = len(classes)
    rows = []
    for r in range(repeats):
        ids = sorted(rng.choice(3 * objects, size=objects, replace=False))
        labels = {o: classes[int(rng.integers(k))] for o in ids}
        photos = [(f"images/o{o:03d}_{v}.png", f"o{o:03d}", order, labels[o])
                  for o in ids for v, order in (("front", 1), ("back", 2), ("other", 3))]
        last = photos[-1]
        photos[-1] = (last[0], last[1], 0, last[3])
        n = len(photos)
        back = np.array([p[2] == 2 for p in photos])
        base_right = rng.random(n) < 0.9

        def predicted(right):
            return [p[3] if ok else classes[(classes.index(p[3]) + 1) % k] for p, ok in zip(photos, right)]

        def obj_predicted(right):
            votes: dict = {}
            for p, ok in zip(photos, right):
                votes[p[1]] = votes.get(p[1], 0) + int(ok)
            return [p[3] if votes[p[1]] >= 2 else classes[(classes.index(p[3]) + 1) % k] for p in photos]

        for i in range(seeds):
            s = 100 * (r + 1) + i
            io = np.where(back, rng.random(n) < io_back, base_right & (rng.random(n) < 0.98))
            oa = np.where(back, rng.random(n) < aware_back, base_right)
            arms = {"image_only": io, "order_aware": oa, "shuffled_order": io, "architecture_only": io,
                    "noncompliance_1pct": oa, "noncompliance_5pct": oa, "noncompliance_20pct": oa, "order_unknown": io}
            for arm, right in arms.items():
                for p, pr, op in zip(photos, predicted(right), obj_predicted(right)):
                    rows.append((r, s, arm, p[0], p[1], p[2], p[3], pr, op))
        for arm in ("order_only", "majority_class"):
            for p in photos:
                rows.append((r, None, arm, p[0], p[1], p[2], p[3], classes[0], ""))
    return Predictions.from_rows(rows)


def assert_same_figures(mine: Any, theirs: Any, where: str = "benchmark") -> None:
    """Every recomputed figure is in benchmark.json, to 12 significant digits (NaN is written as null
    there). Not bit for bit: the bootstrap's weighted sums run through BLAS, whose kernels (AVX2,
    AVX-512) sum in another order on another processor, so the last binary digit can differ."""
    if isinstance(mine, dict):
        for k, v in mine.items():
            assert_same_figures(v, theirs[k], f"{where}.{k}")
    elif isinstance(mine, list):
        assert len(mine) == len(theirs), where
        for i, (a, b) in enumerate(zip(mine, theirs)):
            assert_same_figures(a, b, f"{where}[{i}]")
    elif isinstance(mine, float) and math.isnan(mine):
        assert theirs is None, where
    elif isinstance(mine, float) and isinstance(theirs, float):
        assert math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=1e-15), (where, mine, theirs)
    else:
        assert mine == theirs, where
