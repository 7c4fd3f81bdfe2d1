"""Keras internals of functional graphs autoorder depends on (checked with Keras 3.15.1).

- `Functional._nodes_by_depth` (depth -> nodes; inputs are deepest) and the nodes' `operation`,
  `input_tensors`, `output_tensors`, `is_input`: walked to find clean cuts of a backbone.
- `Sequential._functional`: the functional graph a built Sequential holds.
- `Functional._run_through_graph(inputs, operation_fn, call_fn)`: re-applies a graph to new
  inputs, each operation through `call_fn` (to inline nested models).
- `KerasTensor._keras_history.operation` (the layer that made a tensor) and
  `Layer._inbound_nodes` (the calls of a layer).
- `Trainer._symbolic_build(data_batch=...)`: creates a compiled model's metric, loss and optimizer
  variables from the shapes of a batch (what Keras runs itself before `fit` under a strategy).
- `Adam._momentums`, `Adam._velocities`, `BaseOptimizer._get_variable_index(variable)` and
  `BaseOptimizer._get_current_learning_rate()`: an Adam's slots and its rate at the current step
  (`autoorder.model.loop` updates the slots with a fused op).
- `BaseOptimizer._learning_rate` (the rate or its schedule) and `CosineDecay._warmup_function` /
  `_decay_function`: a warmup cosine's two branches, selected without `ops.cond`.
- `keras.src.backend.tensorflow.nn.batch_normalization(x, mean, variance, axis, offset, scale,
  epsilon)`: what `BatchNormalization` layers call (replaced while an inference pass is traced).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import keras


def functional_graph(model: Any) -> Any:
    """The functional graph of `model` (a built Sequential holds one), or None."""
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    return graph if graph is not None and hasattr(graph, "_nodes_by_depth") else None


def is_functional(model: Any) -> bool:
    """A functional model whose graph can be walked and re-applied (not a subclassed one)."""
    return isinstance(model, keras.Model) and hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth")


def nodes_by_depth(graph: Any) -> dict[int, list]:
    """depth -> the graph's nodes at that depth (the input nodes are the deepest)."""
    return graph._nodes_by_depth


def run_through_graph(graph: Any, inputs: Any, call: Callable[..., Any]) -> Any:
    """Apply `graph` to `inputs`, calling `call(operation, *args, **kwargs)` for each operation."""
    return graph._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=call)


def producer(tensor: Any) -> Any:
    """The operation (layer) that produced a symbolic tensor, or None."""
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def inbound_nodes(layer: Any) -> list:
    """The nodes made by calling `layer` in some graph."""
    return list(getattr(layer, "_inbound_nodes", []))


def build_for_training(model: Any, element_spec: Any) -> None:
    """Create a compiled model's optimizer, metric and loss variables before `fit` traces its step.

    Outside a tf.distribute strategy, Keras 3 (TensorFlow backend) defers creating them to the first
    trace of the train step. A tf.function that creates variables on its first call is traced twice
    (once creating them, once more without), so every model paid two traces of its train step:
    about 0.5-0.8 s of a head-only trial on 2 cores. Built here first, the step is traced once; the
    same ops run on the same values, so training is bit-identical (tests/model/test_space.py).
    `element_spec` is the training dataset's (inputs, labels[, sample weights]).
    """
    build = getattr(model, "_symbolic_build", None)
    if build is not None and getattr(model, "optimizer", None) is not None:
        build(data_batch=element_spec)


def adam_slots(optimizer: Any, variables: list) -> list[tuple[Any, Any]]:
    """(first moment, second moment) slot variables of a built Adam, one pair per variable."""
    out = []
    for v in variables:
        i = optimizer._get_variable_index(v)
        out.append((optimizer._momentums[i], optimizer._velocities[i]))
    return out


def current_learning_rate(optimizer: Any) -> Any:
    """The optimizer's learning rate at its current step (its schedule's value, or the rate).

    A `CosineDecay` with warmup picks its branch with `ops.cond`, which traces two branch graphs
    (~10 ms of every trace of a train step); here both branches are computed with the schedule's
    own functions on the same values and one is selected (`tf.where`): the same rate."""
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.CosineDecay) and schedule.warmup_target is not None:
        return _cosine_with_warmup(schedule, optimizer.iterations)
    return optimizer._get_current_learning_rate()


def _cosine_with_warmup(schedule: Any, step: Any) -> Any:
    """`CosineDecay.__call__` with a warmup (keras 3.15), without its `ops.cond`."""
    import tensorflow as tf  # lazy: the TensorFlow backend's lean loop alone calls this

    ops = keras.ops
    with tf.name_scope(schedule.name):
        initial = ops.convert_to_tensor(schedule.initial_learning_rate)
        dtype = initial.dtype
        decay_steps = ops.cast(schedule.decay_steps, dtype)
        target = ops.cast(schedule.warmup_target, dtype)
        warmup_steps = ops.cast(schedule.warmup_steps, dtype)
        step = ops.minimum(ops.cast(step, dtype), decay_steps + warmup_steps)
        warm = schedule._warmup_function(step, warmup_steps, target, initial)
        decay = schedule._decay_function(step - warmup_steps, decay_steps, target, dtype)
        return tf.where(step < warmup_steps, warm, decay)


MIN_FUSED_EPSILON = 1.001e-5  # TensorFlow's fused batch norm raises a smaller epsilon to this


@contextlib.contextmanager
def fused_batchnorm_inference() -> Iterator[None]:
    """While tracing an inference function: Keras' batch normalization as TensorFlow's fused op.

    Keras 3 (TensorFlow backend) normalises with `tf.nn.batch_normalization`: about seven graph
    ops a layer and two elementwise passes over each activation, which Grappler leaves as they
    are. With moving statistics (inference), `FusedBatchNormV3` with `is_training=False`
    computes the same values up to float rounding (~2e-7 relative on MobileNetV2's pooled
    features) in one op, which Grappler's remapper can fuse with the convolution before it.
    Measured on 2 cores (benchmarks/scale says where): a MobileNetV2 pass ~25% less time a photo
    at 224 px, ~15% at 96 px, and half the tracing.

    Only what is traced inside the block changes, and only 4-D float32 inputs normalised over
    their last axis with both scale and offset, and an epsilon the fused op does not raise
    (MIN_FUSED_EPSILON); anything else is normalised as Keras does it.
    Never around training: the fused op's gradient in inference mode holds the statistics
    constant, where Keras' batch moments are differentiated. Not thread-safe (the backend's
    function is swapped for the block): the backbone pass traces in the thread that runs it.
    """
    try:
        from keras.src.backend.tensorflow import nn as backend_nn  # lazy: TensorFlow backend only
    except ImportError:
        yield
        return
    import tensorflow as tf  # lazy: the TensorFlow backend's inference pass alone calls this

    keras_bn = backend_nn.batch_normalization

    def batch_normalization(x: Any, mean: Any, variance: Any, axis: int, offset: Any = None, scale: Any = None,
                            epsilon: float = 1e-3) -> Any:
        rank = len(x.shape)
        if (rank == 4 and axis in (-1, 3) and offset is not None and scale is not None and x.dtype == tf.float32
                and epsilon >= MIN_FUSED_EPSILON):
            out, _, _ = tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean=mean, variance=variance, epsilon=epsilon,
                                                         data_format="NHWC", is_training=False)
            return out
        return keras_bn(x, mean, variance, axis, offset=offset, scale=scale, epsilon=epsilon)

    backend_nn.batch_normalization = batch_normalization
    try:
        yield
    finally:
        backend_nn.batch_normalization = keras_bn
