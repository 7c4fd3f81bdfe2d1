"""TensorFlow internals autoorder depends on (checked with TensorFlow 2.21.0).

- `tensorflow.python.framework.ops._gradient_registry._registry`: the global table of
  registered gradient functions (a dict: name -> registration). Every trace of a Keras train
  step registers a `CustomGradient-<uid>` entry there that is never removed
  (tensorflow/tensorflow#97697); `autoorder.model.session` drops them between trials.
"""

from __future__ import annotations


def gradient_registry() -> dict | None:
    """TensorFlow's global gradient table, or None if this TensorFlow has none where expected."""
    try:
        from tensorflow.python.framework import ops  # lazy: only the trial loop needs TensorFlow here
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return None
    table = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return table if isinstance(table, dict) else None
