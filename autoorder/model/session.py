"""Release what one trained model leaves behind in the process, so memory stays flat over trials.

`keras.backend.clear_session()` is not enough with the TensorFlow backend. Every trace of a
train step calls the replica context's `all_reduce`, which is a `tf.custom_gradient`; in graph
mode that registers a gradient function in TensorFlow's global gradient registry under a fresh
`CustomGradient-<uid>` name and never removes it. The function's closure holds tensors of the
traced step, hence the whole `FuncGraph` (ops, tensors, shapes): about 3.5 MB per trial for a
small head, for the life of the process (tensorflow/tensorflow#97697, #27492; the fix proposed
for tf-keras, keras-team/tf-keras#898, drops these entries in clear_session as done here).

A registered custom gradient is looked up only while a gradient is being traced; a traced
function keeps its own backward graph. Between trials nothing is being traced, so these entries
are dead weight and are dropped.
"""

from __future__ import annotations

import ctypes
import gc

import keras
import tensorflow as tf

from autoorder.compat.tensorflow import gradient_registry

_PREFIX = "CustomGradient-"


def drop_custom_gradients() -> int:
    """Drop every `CustomGradient-<uid>` registration; the number dropped.

    Those names are made only while tracing, never at import. Call only when no model is being
    traced (between trials)."""
    table = gradient_registry()
    if table is None:
        return 0
    stale = [k for k in table if k.startswith(_PREFIX)]
    for k in stale:
        table.pop(k, None)
    return len(stale)


def trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and RSS only grows)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def release(collect: bool = True) -> None:
    """Between two models: clear Keras' global state, drop dead gradient registrations, and (with
    `collect`) run a full garbage collection and return freed pages to the OS."""
    keras.backend.clear_session(free_memory=False)
    drop_custom_gradients()
    if collect:
        gc.collect()
        trim_heap()


def devices() -> list[str]:
    """The devices TensorFlow will train on: GPU names, or ["CPU only"]."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return ["CPU only"]
    names = []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (ValueError, RuntimeError):  # a device TensorFlow lists but cannot describe
            details = {}
        names.append(f"{gpu.name.replace('/physical_device:', '')} ({details.get('device_name', 'GPU')})")
    return names


def deterministic_ops() -> None:
    """TensorFlow's deterministic kernels for the rest of the process (`tuner.deterministic`).

    With the per-trial seeds, a search run twice on the same machine gives the same scores.
    Not reversible within a process; ops without a deterministic kernel then raise instead of
    varying (none of autoorder's own do, on CPU).
    """
    tf.config.experimental.enable_op_determinism()
