"""Environment and plugin problems end a run before any trial, instead of failing every trial."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoorder.core import config as C
from autoorder.core.errors import AutoOrderError, ConfigError, PluginError, RunError, did_you_mean
from autoorder.model.features import degenerate_cuts, degenerate_warning
from autoorder.model.space import freeze_values

PROBE_IMAGES = 32  # training images the feature check runs the frozen backbones on

# tensorboard is not one: Keras Tuner imports it only in its stock run_trial, which autoorder replaces.
REQUIRED_LIBRARIES = {"tensorflow": "tensorflow", "keras": "keras", "keras_tuner": "keras-tuner"}


def check_space(cfg: C.Config, registry: Any) -> None:
    """Every named backbone, encoding and freeze point exists (before any data is read)."""
    for name in cfg.space.backbones:
        if name not in registry.backbones:
            raise ConfigError(
                f"The 'space.backbones' key in {cfg.source} names {name!r}, which is not a registered backbone. "
                f"Expected one of {registry.list_backbones()}.{did_you_mean(name, registry.backbones)}"
            )
    for name in cfg.space.order_encodings:
        if name not in registry.encodings:
            raise ConfigError(
                f"The 'space.order_encodings' key in {cfg.source} names {name!r}, which is not a registered encoding. "
                f"Expected one of {registry.list_encodings()}.{did_you_mean(name, registry.encodings)}"
            )
    freeze_values(cfg, registry)


Probe = Callable[[str, list[str]], list[tuple[str, float]]]


def sample_probe(cfg: C.Config, bank: Any, images: np.ndarray) -> Probe:
    """(cut, spread) of degenerate cuts, from the frozen backbone run on a few images."""
    if len(images) < 2:
        return lambda name, cuts: []
    return lambda name, cuts: degenerate_cuts(bank, name, cfg.data.image_size, cuts, images)


def space_warnings(cfg: C.Config, registry: Any, probe: Probe) -> list[str]:
    """What `validate` and the search say before any trial: trials that cannot learn from the image.

    A backbone with random weights (`space.weights: null`) that no trial trains gives every
    trial random features; a frozen cut whose features hardly differ between images (a Keras
    application with random weights, run in inference mode) gives a trial nothing at all.
    """
    freeze = freeze_values(cfg, registry)
    random_frozen = [name for name, values in freeze.items() if cfg.space.weights is None and C.FREEZE_NONE not in values]
    found = []
    if random_frozen:
        found.append(
            f"space.weights is null and space.freeze {list(cfg.space.freeze)} never trains {', '.join(random_frozen)}: "
            "every such trial fits a head on features of a randomly initialised, frozen backbone, which carry "
            "little about the image. Give pretrained weights (imagenet, a weights file, or a model of your own "
            "through the keras_file backbone), or add freeze: none to train the backbone."
        )
    for name, cuts in freeze.items():
        frozen = [c for c in cuts if c != C.FREEZE_NONE]
        if frozen and name not in random_frozen:  # the warning above already says why
            degenerate = probe(name, frozen)
            if degenerate:
                found.append(degenerate_warning(name, degenerate))
    return found


def build_backbones(bank: Any, cfg: C.Config) -> None:
    """Build each backbone once: weights and plugin errors surface here, not in every trial.

    The bank keeps the result (initial weights) for the trials.
    """
    for name in cfg.space.backbones:
        try:
            bank.pristine(name, cfg.data.image_size)
        except AutoOrderError:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's own failure, named with its source
            source = bank.registry.backbones[name].source
            raise PluginError(
                f"Backbone {name!r} ({source}) fails to build at {cfg.data.image_size}px: {type(e).__name__}: {e}"
            ) from None


def preflight(out: Path, bank: Any, cfg: C.Config) -> None:
    """Libraries, a writable run folder, and every backbone built once."""
    for module, package in REQUIRED_LIBRARIES.items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise RunError(
                f"The library {module!r} cannot be imported ({e}); Keras Tuner needs it inside every trial. "
                f"Install it: pip install {package}"
            ) from None
    probe = out / ".write-test"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise RunError(f"The run folder {str(out)!r} is not writable: {e.strerror}.") from None
    build_backbones(bank, cfg)
