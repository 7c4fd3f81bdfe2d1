"""TensorFlow internals autoorder depends on (checked with TensorFlow 2.21.0).

- `tensorflow.python.framework.ops._gradient_registry._registry`: the global table of
  registered gradient functions (a dict: name -> registration). Every trace of a Keras train
  step registers a `CustomGradient-<uid>` entry there that is never removed
  (tensorflow/tensorflow#97697); `autoorder.model.session` drops them between trials.
- `tensorflow.python.eager.context.context().function_call_options` (a thread-local
  `FunctionCallOptions` whose `config_proto_serialized` configures Grappler for functions first
  called from that thread, and its `executor_type`): `graph_optimizer_off` turns Grappler off for
  small heads' steps and runs them on the single-threaded executor; `while_v2` reads the
  executor type when it decides to lower a loop (`control_flow_util_v2.maybe_set_lowering_attr`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator


def gradient_registry() -> dict | None:
    """TensorFlow's global gradient table, or None if this TensorFlow has none where expected."""
    try:
        from tensorflow.python.framework import ops  # lazy: only the trial loop needs TensorFlow here
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return None
    table = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return table if isinstance(table, dict) else None


@contextlib.contextmanager
def graph_optimizer_off(single_threaded: bool = False) -> Iterator[None]:
    """Functions first called inside this block run without Grappler's graph optimisation, and
    with `single_threaded`, on TensorFlow's single-threaded executor.

    TensorFlow optimises a function's graph (constant folding, arithmetic and layout passes,
    op fusion) when it is first called, with the config of the caller's thread
    (`context().function_call_options`, a thread-local `FunctionCallOptions`): about 0.1 s for
    a small head's train step on two cores, while the head's steps run no faster for it. The
    single-threaded executor runs a graph's ops one after the other on the calling thread
    (each kernel still uses the intra-op pool): for a graph of many tiny ops, ~15% less time
    than the default executor's scheduling. It cannot run v1 control flow, so `while_v2` does
    not lower a loop traced under it to Switch/Merge (`control_flow_util_v2.
    maybe_set_lowering_attr` reads the executor type): functions must be traced, not only
    called, inside the block. The call options are swapped for a copy and restored on exit; a
    TensorFlow without them where expected gets no change."""
    try:
        from tensorflow.core.protobuf import config_pb2  # lazy: like the rest of this module, only for the trial loop
        from tensorflow.python.eager import context as tf_context  # lazy: idem

        ctx = tf_context.context()
        old = ctx.function_call_options
        proto = config_pb2.ConfigProto.FromString(old.config_proto_serialized)
        proto.graph_options.rewrite_options.disable_meta_optimizer = True
        executor = "SINGLE_THREADED_EXECUTOR" if single_threaded else old.executor_type
        new = tf_context.FunctionCallOptions(executor_type=executor, config_proto=proto)
    except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover - another TensorFlow
        yield
        return
    ctx.function_call_options = new
    try:
        yield
    finally:
        ctx.function_call_options = old
