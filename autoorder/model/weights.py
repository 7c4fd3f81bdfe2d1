"""Setting weights so that every layer computes with them.

Keras' `Normalization` layer caches its mean and variance as tensors when it is built or
loaded from a file (`finalize_state`); `set_weights` changes its variables but not that cache,
so a model whose weights were copied in with `set_weights` keeps normalising with the old
statistics in this process, and switches to the new ones once saved and reloaded. Every weight
copy in autoorder goes through `set_weights` here, which refreshes such caches.
"""

from __future__ import annotations

from typing import Any


def refresh(layer: Any) -> None:
    """Rebuild the cached state of `layer` and of every layer inside it from their variables."""
    stack = [layer]
    while stack:
        current = stack.pop()
        finalize = getattr(current, "finalize_state", None)
        if callable(finalize) and getattr(current, "built", False):
            finalize()
        stack.extend(getattr(current, "layers", None) or [])


def set_weights(layer: Any, weights: list) -> None:
    """`layer.set_weights(weights)`, then every cached statistic refreshed from the new values."""
    layer.set_weights(weights)
    refresh(layer)
