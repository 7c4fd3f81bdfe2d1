"""`autoorder validate`: config, plugins and every manifest row, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from autoorder.core.config import FREEZE_NONE, load_config
from autoorder.data.dataset import load_dataset
from autoorder.model.catalog import registry_for
from autoorder.model.features import BackboneBank, degenerate_cuts, degenerate_warning
from autoorder.model.space import freeze_values
from autoorder.run.preflight import build_backbones, check_space
from autoorder.schema.results import DatasetSummary


def validate_config(
    path: str | Path, overrides: Iterable[str] = (), log: Callable[[str], None] | None = None
) -> tuple[DatasetSummary, list[str]]:
    """Check a config, its plugins, its backbones and every row and image; (data summary, warnings)."""
    cfg = load_config(path, overrides)
    registry = registry_for(cfg)
    check_space(cfg, registry)
    bank = BackboneBank(registry, cfg.weights_value(), cfg.tuner.seed)
    build_backbones(bank, cfg)
    progress = (lambda done, total: log(f"decoded {done}/{total} images")) if log else None
    data = load_dataset(cfg, progress=progress)
    summary = data.summary()
    return summary, [*cfg.warnings(), *summary.warnings, *feature_warnings(cfg, registry, bank, data)]


def feature_warnings(cfg, registry, bank, data, sample: int = 32) -> list[str]:
    """Frozen cuts whose features do not vary over a sample of the training images."""
    images = data.images[data.indices("train")[:sample]]
    if len(images) < 2:
        return []
    out = []
    for name, cuts in freeze_values(cfg, registry).items():
        frozen = [c for c in cuts if c != FREEZE_NONE]
        if frozen:
            out += [degenerate_warning(name, cut, spread) for cut, spread in degenerate_cuts(bank, name, cfg.data.image_size, frozen, images)]
    return out
