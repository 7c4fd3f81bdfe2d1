"""`autoorder validate`: config, plugins and every manifest row, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from autoorder.config import load_config


def validate_config(path: str | Path, overrides: Iterable[str] = (), log: Callable[[str], None] | None = None) -> dict:
    from autoorder.dataset import load_dataset
    from autoorder.plugins import registry_for
    from autoorder.search import check_space

    from autoorder.features import BackboneBank
    from autoorder.search import build_backbones

    cfg = load_config(path, overrides)
    registry = registry_for(cfg)
    check_space(cfg, registry)
    bank = BackboneBank(registry, cfg.weights_value(), cfg.tuner.seed)
    build_backbones(bank, cfg)
    progress = (lambda done, total: log(f"decoded {done}/{total} images")) if log else None
    data = load_dataset(cfg, progress=progress)
    return data.summary()
