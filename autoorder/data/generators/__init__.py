"""Benchmark datasets that ship as generators.

Nothing can be downloaded at run time, so each dataset is generated, deterministically from a
seed salted by the dataset's name (so no two datasets share random draws), out of real material
installed with the dependencies (fonts, scanned handwriting), and
written as image files plus ``manifest.csv``: the same path a user's data takes. Every object
is photographed three times (front, back, other), uploaded in that order for about 99% of the
objects.

    make_dataset("glyph-views", "data/glyphs", seed=0, classes="bdpq69nu")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from autoorder.core.errors import ConfigError, describe
from autoorder.core.version import __version__
from autoorder.data.generators import digits_views, glyph_views
from autoorder.data.generators.common import CALLER, Generator, write_dataset

_REGISTRY: dict[str, Generator] = {
    g.name: g for g in (glyph_views.GENERATOR, glyph_views.CAPS_GENERATOR, digits_views.GENERATOR)
}

__all__ = ["list_datasets", "make_dataset"]


def list_datasets() -> list[dict]:
    """Every dataset generator, sorted by name.

    Returns:
        One dict per dataset: ``name``, ``description``, ``provenance`` (one line each),
        ``default_objects`` and ``default_image_size``.
    """
    return [
        {
            "name": g.name,
            "description": g.description,
            "provenance": g.provenance(),
            "default_objects": g.default_objects,
            "default_image_size": g.default_image_size,
        }
        for g in sorted(_REGISTRY.values(), key=lambda g: g.name)
    ]


def make_dataset(
    name: str,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    objects: int | None = None,
    image_size: int | None = None,
    classes: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate dataset ``name`` into the new (or empty) folder ``out``.

    The folder is filled under a hidden sibling name and renamed at the end, so an
    interrupted run never leaves half a dataset at ``out``. The same arguments give
    byte-identical files.

    Args:
        name: a name from ``list_datasets()``.
        out: folder to create; an existing folder must be empty (nothing is overwritten).
        seed: seed of every random choice, salted by the dataset's name (two datasets made
            with the same seed share no draws).
        objects: number of objects (three photos each); default per dataset.
        image_size: side of the square RGB images in pixels, 8..1024; default per dataset.
        classes: subset of the classes as a string of characters, e.g. ``"bdpq69"``.
        progress: called as ``progress(done, total)`` every few objects.

    Returns:
        The path of the written ``manifest.csv``.

    Raises:
        ConfigError: an unknown name, a bad parameter, or an ``out`` that is not empty.
    """
    gen = _REGISTRY.get(name) if isinstance(name, str) else None
    if gen is None:
        known = ", ".join(repr(n) for n in sorted(_REGISTRY))
        raise ConfigError(f"The 'name' parameter of {CALLER} must be one of {known}. Got {describe(name)} instead.")
    return write_dataset(
        gen,
        out,
        seed=seed,
        objects=objects,
        image_size=image_size,
        classes=classes,
        progress=progress,
        version=__version__,
    )
