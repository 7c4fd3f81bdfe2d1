"""`digits-views`: real handwritten digits, scikit-learn's bundled copy of the UCI digits.

`sklearn.datasets.load_digits()` ships 1797 8x8 scans of digits written by 43 people; it is
read from the installed package, never downloaded.
"""

from __future__ import annotations

import functools
from importlib import metadata

import numpy as np
from PIL import Image

from autoorder.data.generators.common import Generator

ALPHABET = "0123456789"
_SOURCE = "sklearn.datasets.load_digits"


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # only here: importing scikit-learn is slow

    data = load_digits()
    ink = np.clip(data.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return ink, data.target.astype(np.int64)


def sources(label: str) -> list[int]:
    """Indices of the samples of one digit, in their stored order (the plan shuffles them)."""
    _, target = _digits()
    return [int(i) for i in np.flatnonzero(target == int(label))]


def provenance() -> str:
    # Stated, not counted: loading the digits would make `datasets list` slow.
    return (
        f"handwritten digits bundled with scikit-learn {metadata.version('scikit-learn')} "
        f"({_SOURCE}: 1797 8x8 scans, UCI optical recognition of handwritten digits)"
    )


def material() -> dict:
    return {"source": _SOURCE, "samples_available": len(_digits()[1])}


def draw(index: int, label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Ink of one handwritten digit: the 8x8 scan upscaled smoothly, placed, tilted."""
    canvas = 2 * size if size <= 256 else size
    scale = rng.uniform(0.68, 0.9)
    side = max(2, int(round(canvas * scale)))
    offset = rng.uniform(-0.07, 0.07, size=2) * canvas
    angle = float(rng.uniform(-8, 8))
    # Pen pressure: where a bicubic upscale of the 8x8 scan counts as ink.
    threshold = rng.uniform(0.25, 0.45)

    scan = Image.fromarray(_digits()[0][index])
    up = np.asarray(scan.resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    # A soft step turns the blurry upscale into strokes with anti-aliased edges.
    t = np.clip((up - threshold) / 0.3 + 0.5, 0.0, 1.0)
    stroke = Image.fromarray((t * t * (3.0 - 2.0 * t) * 255.0 + 0.5).astype(np.uint8))

    img = Image.new("L", (canvas, canvas), 0)
    corner = (int(round((canvas - side) / 2 + offset[0])), int(round((canvas - side) / 2 + offset[1])))
    img.paste(stroke, corner)
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC)
    if canvas != size:
        img = img.resize((size, size), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.uint8)


GENERATOR = Generator(
    name="digits-views",
    prefix="d",
    description="Handwritten digits 0-9 photographed front, back (mirrored, seen through) and upside down.",
    default_objects=600,
    default_image_size=32,
    alphabet=ALPHABET,
    provenance=provenance,
    sources=sources,
    draw=draw,
    material=material,
)
