"""Environment and plugin problems end a run before any trial, instead of failing every trial."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from autoorder.core import config as C
from autoorder.core.errors import AutoOrderError, ConfigError, PluginError, RunError, did_you_mean
from autoorder.model.space import freeze_values

REQUIRED_LIBRARIES = {"tensorflow": "tensorflow", "keras": "keras", "keras_tuner": "keras-tuner", "tensorboard": "tensorboard"}


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
