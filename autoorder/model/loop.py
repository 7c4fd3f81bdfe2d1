"""A lean training loop: what `Model.fit` does for a trial, at a fraction of its fixed cost.

Keras' `fit` traces two graphs for every new model (the train step, wrapped in a
`steps_per_execution` while loop, and the test step), each with Keras' optimizer machinery:
~870 graph ops for a two-layer head, 0.5 s of tracing and graph optimisation per trial on two
cores, where the head's five epochs of training take ~0.3 s (benchmarks/perf). A search runs
hundreds of such models, so the fixed cost is what it pays for.

`fit` here trains the same model the same way (Adam with the optimizer's own learning-rate
schedule, bias correction, slots and step counter; global-norm clipping; the compiled loss;
dropout and batch order as seeded) with one smaller traced step (forward, loss, gradient, one
fused `ResourceApplyAdam` per variable: ~470 ops with its loop for a two-layer head with dropout,
clipping and the cosine schedule) and a forward for validation. It drives the same Keras
callbacks with the same logs (`loss`, `accuracy`, `val_loss`, `val_accuracy`,
`val_balanced_accuracy`) and returns a `keras.callbacks.History`, so checkpoints, resume state,
early stopping, time limits and Keras Tuner see no difference. The numbers are those of Keras'
own step up to float rounding (the fused update rounds differently), checked in
tests/model/test_loop.py.

For a head on feature vectors (`_light`), what remains of a trial's fixed cost is cut further:
the step is traced without autograph (its branches are on Python values), its graph is not run
through Grappler (`graph_optimizer_off`: ~0.1 s per new function, nothing gained on tiny ops),
the loss takes the label's probability with a one-hot product rather than a batched gather (whose
gradient is ~50 traced ops), a warmup cosine schedule selects its branch without `cond`, the
step runs on TensorFlow's single-threaded executor where there is no GPU (`_graphs_for`), and
validation runs the model eagerly (~7 ms an epoch against ~45 ms to trace and first call a
graph) on validation chunks read once and kept (at most CHUNK_BYTES), and an epoch of a few
thousand rows is one call into TensorFlow (LIGHT_STEPS_PER_CALL). Models with pixels or feature maps keep Grappler and a traced validation forward.

`supports(model)` says when it applies: an Adam without weight decay, EMA, AMSGrad or gradient
accumulation, the sparse categorical cross-entropy loss, and no tf.distribute strategy; anything
else trains with Keras' `fit`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from autoorder.compat.keras import adam_slots, current_learning_rate
from autoorder.compat.tensorflow import graph_optimizer_off

LOSS = "sparse_categorical_crossentropy"
STEPS_PER_CALL = 8  # training batches per call into TensorFlow, at most
LIGHT_STEPS_PER_CALL = 256  # ... for a head on feature vectors (`_light`): an epoch of a few thousand rows is one call
VAL_ROWS_PER_CALL = 1024  # validation rows per forward call, at most
CHUNK_BYTES = 16 * 2**20  # and no more input than this per call (photos at 224 px: one batch)
EPSILON = 1e-7  # Keras' epsilon: probabilities are clipped to [eps, 1 - eps] before the log


def _row_bytes(element_spec: Any) -> int:
    """Bytes of one row of a batched dataset's inputs, as float32 (unknown dimensions count 1)."""
    total = 0
    for spec in tf.nest.flatten(element_spec[0]):
        total += 4 * int(np.prod([d or 1 for d in spec.shape.as_list()[1:]]))
    return max(total, 1)


def _rows_per_call(element_spec: Any, batch_size: int, most: int) -> int:
    """Rows per call: up to `most`, whole batches, within CHUNK_BYTES (one batch at least)."""
    fit = CHUNK_BYTES // (_row_bytes(element_spec) * batch_size)
    return batch_size * int(min(max(fit, 1), max(most // batch_size, 1)))


def supports(model: keras.Model) -> bool:
    """Whether `fit` can train this compiled model (else use Keras' own)."""
    opt = getattr(model, "optimizer", None)
    if type(opt) is not keras.optimizers.Adam:
        return False
    if opt.amsgrad or opt.weight_decay or opt.use_ema or opt.clipvalue or opt.clipnorm:
        return False
    if getattr(opt, "gradient_accumulation_steps", None) or getattr(opt, "loss_scale_factor", None):
        return False
    if getattr(model, "loss", None) != LOSS:
        return False
    return not tf.distribute.has_strategy() and model.distribute_strategy is tf.distribute.get_strategy()


def _light(model: keras.Model) -> bool:
    """Whether the model eats feature vectors only (a head on cached features): tiny ops, where
    TensorFlow's fixed costs per function (tracing, graph optimisation) are what a trial pays."""
    inputs = tf.nest.flatten(getattr(model, "inputs", None) or [])
    return bool(inputs) and all(len(t.shape) <= 2 for t in inputs)


def _graphs_for(model: keras.Model) -> Any:
    """Where this model's functions are traced and run: for a light model, without Grappler
    (~0.1 s per new function; its tiny ops gain nothing from the graph optimiser) and, on a
    machine without GPUs, on the single-threaded executor (~15% less per step: the default
    executor's scheduling costs more than ops this small); as TensorFlow sets it otherwise
    (convolutions gain from Grappler's fusions)."""
    if not _light(model):
        return contextlib.nullcontext()
    return graph_optimizer_off(single_threaded=not tf.config.list_logical_devices("GPU"))


def _per_sample_loss(y: Any, probs: Any) -> Any:
    p = tf.clip_by_value(probs, EPSILON, 1.0 - EPSILON)
    # The label's probability as a sum against a one-hot row (exactly p[y]: the other terms are
    # zeros): a batched gather's gradient is ~50 traced ops, this one's a handful.
    return -tf.math.log(tf.reduce_sum(p * tf.one_hot(tf.cast(y, tf.int32), tf.shape(p)[-1], dtype=p.dtype), axis=-1))


def _train_step(model: keras.Model, class_weight: dict[int, float] | None, num_classes: int) -> Any:
    opt = model.optimizer
    variables = list(model.trainable_variables)
    slots = adam_slots(opt, variables)
    handles = [(v.value.handle, m.value.handle, s.value.handle) for v, (m, s) in zip(variables, slots)]
    weights = None
    if class_weight:
        weights = tf.constant([float(class_weight.get(c, 1.0)) for c in range(num_classes)], tf.float32)
    clip = opt.global_clipnorm
    b1, b2, eps = float(opt.beta_1), float(opt.beta_2), float(opt.epsilon)

    def step(x: Any, y: Any) -> tuple:
        y = tf.reshape(tf.cast(y, tf.int32), (-1,))
        n = tf.cast(tf.shape(y)[0], tf.float32)
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            per = _per_sample_loss(y, probs)
            if weights is not None:
                per = per * tf.gather(weights, y)
            loss = tf.reduce_sum(per) / n  # Keras' "sum over batch size"
            if model.losses:
                loss = loss + tf.add_n([tf.cast(term, tf.float32) for term in model.losses])
        grads = tape.gradient(loss, [v.value for v in variables])
        if clip:
            grads, _ = tf.clip_by_global_norm(grads, clip)
        lr = tf.cast(current_learning_rate(opt), tf.float32)
        t = tf.cast(opt.iterations.value + 1, tf.float32)
        b1_power, b2_power = tf.pow(b1, t), tf.pow(b2, t)
        for (var, m, s), g in zip(handles, grads):
            if g is None:
                continue
            tf.raw_ops.ResourceApplyAdam(
                var=var, m=m, v=s, beta1_power=b1_power, beta2_power=b2_power, lr=lr, beta1=b1, beta2=b2,
                epsilon=eps, grad=g,
            )
        opt.iterations.value.assign_add(1)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.cast(tf.argmax(probs, axis=-1), tf.int32), y), tf.float32))
        return loss * n, correct, n

    return step


def _forward(model: keras.Model, element_spec: Any) -> Any:
    """The model in inference mode, traced once for batches of any size."""
    return tf.function(lambda x: model(x, training=False), input_signature=[element_spec[0]], autograph=False)


def _eager_or_traced(model: keras.Model, element_spec: Any) -> Any:
    """The inference forward: eager for a light model (a head's forward on 1,024 rows takes ~7 ms
    eagerly against ~45 ms to trace and first call a graph, and a trial validates once per
    epoch), traced otherwise."""
    return (lambda x: model(x, training=False)) if _light(model) else _forward(model, element_spec)


def predict(model: keras.Model, data: tf.data.Dataset, batch_size: int = 32) -> np.ndarray:
    """Class probabilities of `model` for every row of `data` ((inputs, labels) batches), in order.

    One forward (`_eager_or_traced`; Keras' `predict` traces a larger graph), up to
    VAL_ROWS_PER_CALL rows and CHUNK_BYTES per call."""
    chunks = data.unbatch().batch(_rows_per_call(data.element_spec, batch_size, VAL_ROWS_PER_CALL))
    forward = _eager_or_traced(model, chunks.element_spec)
    with _graphs_for(model):
        parts = [forward(x).numpy() for x, _ in chunks]
    return np.concatenate(parts) if parts else np.zeros((0, int(model.outputs[0].shape[-1])), dtype=np.float32)


class _Evaluator:
    """Validation logs of a model on a dataset: loss, accuracy, balanced accuracy.

    With `keep_bytes`, the validation chunks read by the first call are kept for the next ones
    when they take at most that much memory (the validation rows of a head on feature vectors:
    reading them again through tf.data costs an epoch more than the forward). The logs are sums
    over rows, the same in any order."""

    def __init__(self, model: keras.Model, data: tf.data.Dataset, num_classes: int, balanced: bool, keep_bytes: int = 0):
        self.data = data
        self.num_classes = num_classes
        self.balanced = balanced
        self.forward = _eager_or_traced(model, data.element_spec)
        self.keep_bytes = keep_bytes
        self._kept: list | None = None

    def _chunks(self) -> Any:
        if self._kept is not None:
            yield from self._kept
            return
        kept: list | None = [] if self.keep_bytes else None
        size = 0
        for x, y in self.data:
            y = y.numpy().reshape(-1).astype(np.int64)
            if kept is not None:
                size += sum(t.shape.num_elements() * t.dtype.size for t in tf.nest.flatten(x))
                kept = kept + [(x, y)] if size <= self.keep_bytes else None
            yield x, y
        self._kept = kept

    def __call__(self) -> dict[str, float]:
        seen = np.zeros(self.num_classes)
        right = np.zeros(self.num_classes)
        loss = 0.0
        for x, y in self._chunks():
            probs = self.forward(x).numpy()
            p = np.clip(probs[np.arange(len(y)), y], EPSILON, 1.0 - EPSILON)
            loss += float(-np.log(p).sum())
            hit = probs.argmax(axis=-1) == y
            np.add.at(seen, y, 1.0)
            np.add.at(right, y, hit.astype(np.float64))
        n = seen.sum()
        if n == 0:
            return {}
        logs = {"val_loss": loss / n, "val_accuracy": float(right.sum() / n)}
        if self.balanced:  # BalancedAccuracy's definition: mean recall over the classes present
            present = seen > 0
            logs["val_balanced_accuracy"] = float((right[present] / seen[present]).mean())
        return logs


def _chunked(step: Any, batch_size: int) -> Any:
    """Several batches per call: `step` over consecutive `batch_size` slices of one chunk of rows.

    A call into TensorFlow costs about as much as a head's step on a small batch, so chunks of
    up to STEPS_PER_CALL batches (CHUNK_BYTES at most) run in one graph loop; slicing a chunk of
    consecutive rows gives the very batches (order and composition) that batching the rows by
    `batch_size` would."""

    def run(x: Any, y: Any) -> Any:
        n = tf.shape(y)[0]
        steps = (n + batch_size - 1) // batch_size

        def body(i: Any, acc: Any) -> tuple:
            lo = i * batch_size
            hi = tf.minimum(lo + batch_size, n)
            out = step(tf.nest.map_structure(lambda t: t[lo:hi], x), y[lo:hi])
            return i + 1, acc + tf.stack(out)

        _, acc = tf.while_loop(lambda i, acc: i < steps, body, (tf.constant(0), tf.zeros(3)))
        return acc

    return run


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset | None,
    epochs: int,
    initial_epoch: int = 0,
    callbacks: list | None = None,
    class_weight: dict[int, float] | None = None,
    num_classes: int | None = None,
    balanced: bool = False,
    batch_size: int = 32,
) -> keras.callbacks.History:
    """Train `model` (compiled, `supports(model)`) on `train`, batches of `batch_size` (inputs, labels).

    Validation metrics come from `val` after every epoch (`val_balanced_accuracy` too with
    `balanced`). Callbacks see Keras' hooks and logs, batch hooks once per call (up to
    STEPS_PER_CALL batches, as Keras' with `steps_per_execution`; LIGHT_STEPS_PER_CALL for a head
    on feature vectors, whose steps take well under a millisecond: a call's own cost is then what
    an epoch pays); `model.stop_training` ends training after the current call. Returns the
    History."""
    if num_classes is None:
        num_classes = int(model.outputs[0].shape[-1])
    opt = model.optimizer
    opt.build(model.trainable_variables)  # a no-op when built (e.g. by a resume)
    steps = LIGHT_STEPS_PER_CALL if _light(model) else STEPS_PER_CALL
    rows = _rows_per_call(train.element_spec, batch_size, batch_size * steps)
    spec, chunks = _epoch_chunks(train, rows, epochs - initial_epoch)
    # No autograph: the step's Python branches are on Python values, its loop a tf.while_loop.
    run = tf.function(_chunked(_train_step(model, class_weight, num_classes), batch_size),
                      input_signature=list(spec), autograph=False)
    evaluate = None
    if val is not None:
        rows = _rows_per_call(val.element_spec, batch_size, VAL_ROWS_PER_CALL)
        evaluate = _Evaluator(model, val.unbatch().batch(rows), num_classes, balanced,
                              keep_bytes=CHUNK_BYTES if _light(model) else 0)
    history = keras.callbacks.History()
    cbs = keras.callbacks.CallbackList([*(callbacks or []), history], model=model, epochs=epochs, verbose=0, steps=None)
    model.stop_training = False
    with _graphs_for(model):
        return _epochs(model, chunks, run, evaluate, cbs, history, epochs, initial_epoch)


def _epoch_chunks(train: tf.data.Dataset, rows: int, epochs: int) -> tuple[Any, Any]:
    """(element spec, a function of no argument giving the next epoch's chunks of `rows` rows).

    Every epoch's chunks come from one prefetching stream, each epoch's followed by an empty
    chunk that marks its end, so the next epoch's first chunk is assembled while this one is
    validated (a head's epoch on a few thousand rows paid ~8 ms to start reading anew). The
    stream re-reads the dataset each epoch as a new iteration would: the same seeded shuffles,
    epoch after epoch (tests/model/test_loop.py). Where a row's shape is not fully known, each
    epoch iterates the dataset anew."""
    chunks = train.unbatch().batch(rows)
    spec = chunks.element_spec
    specs = tf.nest.flatten(spec)
    if epochs < 1 or any(d is None for t in specs for d in t.shape.as_list()[1:]) or any(not t.dtype.is_numeric for t in specs):
        return spec, lambda: chunks.prefetch(1)
    end = tf.data.Dataset.from_tensors(tf.nest.map_structure(lambda t: tf.zeros((0, *t.shape.as_list()[1:]), t.dtype), spec))
    stream = iter(chunks.concatenate(end).repeat(epochs).prefetch(1))

    def epoch() -> Any:
        for x, y in stream:
            if y.shape[0] == 0:
                return
            yield x, y

    return spec, epoch


def _epochs(model: keras.Model, chunks: Any, run: Any, evaluate: Any, cbs: Any, history: Any, epochs: int,
            initial_epoch: int) -> keras.callbacks.History:
    cbs.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        parts = []
        for call, (x, y) in enumerate(chunks()):
            cbs.on_train_batch_begin(call)
            parts.append(run(x, y))
            cbs.on_train_batch_end(call)
            if model.stop_training:
                break
        if not parts:
            break
        loss_sum, correct, n = (float(v) for v in tf.add_n(parts).numpy())
        logs = {"loss": loss_sum / n, "accuracy": correct / n}
        if evaluate is not None:
            logs.update(evaluate())
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return history
