"""`autoorder validate`: config, plugins and every manifest row, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from autoorder.core.config import Config, load_config
from autoorder.data.dataset import load_dataset
from autoorder.model.catalog import registry_for
from autoorder.model.features import BackboneBank
from autoorder.run.preflight import PROBE_IMAGES, build_backbones, check_space, sample_probe, space_warnings
from autoorder.schema.results import DatasetSummary


def validate_config(
    config: str | Path | Config, overrides: Iterable[str] = (), log: Callable[[str], None] | None = None
) -> tuple[DatasetSummary, list[str]]:
    """Check a config (a path, or one already loaded), its plugins, its backbones and every row and image.

    Returns (data summary, warnings): the warnings are those the search gives before its first
    trial (`preflight.space_warnings`)."""
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    registry = registry_for(cfg)
    check_space(cfg, registry)
    bank = BackboneBank(registry, cfg.weights_value(), cfg.tuner.seed)
    build_backbones(bank, cfg)
    progress = (lambda done, total: log(f"decoded {done}/{total} images")) if log else None
    data = load_dataset(cfg, progress=progress, keep_pixels=False)  # every row decoded and checked, none kept
    summary = data.summary()
    images = data.pixels[data.indices("train")[:PROBE_IMAGES]]
    return summary, [*cfg.warnings(), *summary.warnings, *space_warnings(cfg, registry, sample_probe(cfg, bank, images))]
