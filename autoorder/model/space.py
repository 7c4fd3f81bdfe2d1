"""The search space as one `kt.HyperModel`: backbone, freeze point, head, order encoding, rate.

A list in the config is searched (`hp.Choice`), a single value is fixed (`hp.Fixed`). Per
backbone and per encoding hyperparameters live under `conditional_scope(parent, [name])` and
`name_scope(name)`, so they read `tiny_cnn/freeze` or `embedding/dim` in results.

Trials train only what lies above their freeze point: activations below it come from the
`FeatureCache` (one backbone pass per search), never from running the frozen layers again.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import keras
import keras_tuner as kt
import numpy as np
import tensorflow as tf

from autoorder.compat.keras import build_for_training
from autoorder.core import config as C
from autoorder.core.errors import ConfigError, did_you_mean
from autoorder.data.dataset import Dataset
from autoorder.model.callbacks import NanGuard
from autoorder.model import loop, streams
from autoorder.model.features import DEGENERATE_SPREAD, BackboneBank, FeatureCache, FeatureSet, Layout, feature_spread
from autoorder.model.graph import split_model
from autoorder.model.metrics import BalancedAccuracy
from autoorder.model.assembly import (
    FEATURES_INPUT,
    ORDER_INPUT,
    HeadSpec,
    build_export_model,
    build_head,
    build_training_model,
    freeze_batchnorm,
)


STEPS_PER_EXECUTION = 8
LR_FLOOR = 0.01  # cosine decay ends at this fraction of the peak learning rate


@dataclass(frozen=True)
class TrialPlan:
    backbone: str
    freeze: str
    head_depth: int
    head_width: int
    dropout: float
    encoding: str
    learning_rate: float
    class_weight: str = "none"


def freeze_values(cfg: C.Config, registry: Any) -> dict[str, list[str]]:
    """The freeze values each backbone accepts, in config order; unknown cut names are errors.

    `last` stands for each backbone's deepest freeze point (a backbone without any has none);
    a value that names the same cut twice is kept once.
    """
    symbolic = (C.FREEZE_NONE, C.FREEZE_ALL, C.FREEZE_LAST)
    out: dict[str, list[str]] = {}
    all_cuts: set[str] = set()
    for name in cfg.space.backbones:
        cuts = list(registry.get_backbone(name).freeze_points())
        all_cuts.update(cuts)
        values = []
        for f in cfg.space.freeze:
            value = (cuts[-1] if cuts else None) if f == C.FREEZE_LAST else f
            if value is not None and (value in (C.FREEZE_NONE, C.FREEZE_ALL) or value in cuts) and value not in values:
                values.append(value)
        out[name] = values
    for f in cfg.space.freeze:
        if f not in symbolic and f not in all_cuts:
            known = sorted(all_cuts | set(symbolic))
            raise ConfigError(
                f"The 'space.freeze' key in {cfg.source} names {f!r}, which is not a freeze point of "
                f"{list(cfg.space.backbones)}. Expected none, all, last, or one of {known}.{did_you_mean(f, known)}"
            )
    for name, values in out.items():
        if not values:
            raise ConfigError(
                f"The 'space.freeze' key in {cfg.source} leaves backbone {name!r} no freeze point. "
                f"Got {list(cfg.space.freeze)}; expected none, all or one of {registry.get_backbone(name).freeze_points()}."
            )
    return out


def _hp(hp: kt.HyperParameters, name: str, values: tuple | list) -> Any:
    values = list(values)
    return hp.Fixed(name, values[0]) if len(values) == 1 else hp.Choice(name, values)


def _dummy_graph() -> tuple[Any, Any]:
    return keras.Input((8,), name="probe_features"), keras.Input((), dtype="int32", name="probe_order")


class SearchSpace(kt.HyperModel):
    """Builds and trains one trial's model from its hyperparameters."""

    def __init__(
        self,
        cfg: C.Config,
        registry: Any,
        data: Dataset,
        bank: BackboneBank,
        cache: FeatureCache | None,
        log: Callable[[str], None] | None = None,
    ):
        super().__init__(name="autoorder")
        self.cfg = cfg
        self.registry = registry
        self.data = data
        self.bank = bank
        self.cache = cache
        self.log = log
        self.freeze = freeze_values(cfg, registry)
        self.image_size = cfg.data.image_size
        self._datasets: dict = {}
        self._layout: Layout | None = None
        # Without a feature cache, the features of a trial's cut are computed for it (in memory).
        self._uncached = FeatureCache(memory_mb=0, dtype=cfg.cache.dtype)
        # Set per trial by the tuner (and per seed by a retraining): initialisation, dropout and
        # batch order all follow it, so a trial gives the same score whatever ran before it.
        self.trial_seed = cfg.tuner.seed
        self.fit_seconds = 0.0  # time inside model.fit, summed over trials (the floor's training part)
        self.last_backbone: keras.Model | None = None
        self.last_head: keras.Model | None = None

    # ----- hyperparameters -------------------------------------------------------------
    def declare(self, hp: kt.HyperParameters) -> TrialPlan:
        s = self.cfg.space
        backbone = _hp(hp, C.HP_BACKBONE, s.backbones)
        freeze = None
        for name in s.backbones:
            with hp.conditional_scope(C.HP_BACKBONE, [name]), hp.name_scope(name):
                value = _hp(hp, C.HP_FREEZE, self.freeze[name])
                if backbone == name:
                    freeze = value
        depth = _hp(hp, C.HP_HEAD_DEPTH, s.head_depth)
        width = s.head_width[0]
        deep = [d for d in s.head_depth if d > 0]
        if deep:
            with hp.conditional_scope(C.HP_HEAD_DEPTH, deep):
                w = _hp(hp, C.HP_HEAD_WIDTH, s.head_width)
                width = w if w is not None else width
        dropout = _hp(hp, C.HP_DROPOUT, s.dropout)
        encoding = _hp(hp, C.HP_ENCODING, s.order_encodings)
        lr = _hp(hp, C.HP_LEARNING_RATE, s.learning_rate)
        class_weight = _hp(hp, C.HP_CLASS_WEIGHT, s.class_weight)
        return TrialPlan(backbone, freeze, depth, width, dropout, encoding, lr, class_weight)

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        """Register every hyperparameter without building a backbone (cheap, done once)."""
        self.declare(hp)
        # Encodings declare their own hyperparameters while building: probe each one on a
        # tiny symbolic graph with that encoding active, then keep what it registered.
        for name in self.cfg.space.order_encodings:
            probe = hp.copy()
            probe.values[C.HP_ENCODING] = name
            encoding = self.registry.get_encoding(name)
            feats, order = _dummy_graph()
            try:
                with probe.conditional_scope(C.HP_ENCODING, [name]), probe.name_scope(name):
                    encoding.build(feats, order, 4, probe)
            except Exception:  # noqa: BLE001 - its trials will fail with the reason; the search goes on
                continue
            hp.merge(probe, overwrite=False)

    # ----- building ----------------------------------------------------------------------
    def head_spec(self, plan: TrialPlan) -> HeadSpec:
        return HeadSpec(
            num_classes=len(self.data.classes),
            order_vocabulary=tuple(self.data.order_vocabulary),
            depth=plan.head_depth,
            width=plan.head_width,
            dropout=plan.dropout,
        )

    def trunk(self, plan: TrialPlan, backbone: keras.Model) -> tuple[keras.Model, tuple]:
        """What trains of the backbone (a cut or everything), and the shape of what it eats."""
        if plan.freeze == C.FREEZE_NONE:
            return backbone, tuple(int(d) for d in backbone.input.shape[1:])
        prefix, suffix = split_model(backbone, plan.freeze)
        return suffix, tuple(int(d) for d in prefix.output.shape[1:])

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        plan = self.declare(hp)
        encoding = self.registry.get_encoding(plan.encoding)
        if plan.freeze == C.FREEZE_ALL:
            # Nothing of the backbone trains: the head eats cached pooled features directly,
            # and no backbone is even built for the trial.
            backbone, trunk = None, None
            in_shape = head_shape = self.bank.pooled_shape(plan.backbone, self.image_size)
        else:
            backbone = self.bank.build(plan.backbone, self.image_size)
            if self.cfg.space.weights is not None:
                freeze_batchnorm(backbone)
            trunk, in_shape = self.trunk(plan, backbone)
            head_shape = self.bank.pooled_shape(plan.backbone, self.image_size)
        with hp.conditional_scope(C.HP_ENCODING, [plan.encoding]), hp.name_scope(plan.encoding):
            head = build_head(head_shape, self.head_spec(plan), encoding, hp)
        model = build_training_model(trunk, in_shape, head)
        lr = plan.learning_rate * (self.cfg.tuner.fine_tune_lr_factor if self._two_stage(plan) else 1.0)
        model.compile(
            optimizer=self.optimizer(lr, self.cfg.tuner.epochs),
            loss="sparse_categorical_crossentropy",
            metrics=self.metrics(),
            # Heads on cached features take microseconds per batch: several batches per call
            # into TensorFlow remove most of the per-step overhead. Same batches, same math.
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        self.last_plan, self.last_backbone, self.last_head = plan, backbone, head
        return model

    def metrics(self) -> list:
        """accuracy, and balanced accuracy when the search is ranked by it (tuner.objective)."""
        if self.cfg.tuner.objective == "val_balanced_accuracy":
            return ["accuracy", BalancedAccuracy(len(self.data.classes))]
        return ["accuracy"]

    def class_weights(self, plan: TrialPlan) -> dict[int, float] | None:
        """`balanced`: each class weighs in inversely to its frequency in train (n / (k * n_c))."""
        if plan.class_weight != "balanced":
            return None
        y = self.data.y[self.data.indices("train")]
        counts = np.bincount(y, minlength=len(self.data.classes))
        present = counts > 0
        weights = len(y) / (int(present.sum()) * np.maximum(counts, 1))
        return {int(c): float(w) for c, w in enumerate(weights) if present[c]}

    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.data.indices("train")) / self.cfg.space.batch_size))

    def optimizer(self, peak_lr: float, epochs: int) -> keras.optimizers.Optimizer:
        """Adam with the recipe of `tuner`: the learning rate of `schedule`, and gradient clipping
        by global norm (`tuner.clip_norm`)."""
        clip = self.cfg.tuner.clip_norm
        return keras.optimizers.Adam(self.schedule(peak_lr, epochs), **({"global_clipnorm": clip} if clip else {}))

    def schedule(self, peak_lr: float, epochs: int) -> Any:
        """`tuner.schedule`: cosine is a linear warmup to `peak_lr` over `tuner.warmup_epochs`,
        then a cosine decay over the remaining epochs to LR_FLOOR of it; constant is `peak_lr`.

        Warmup keeps the first updates of a freshly initialised head (or backbone) small, so a
        large rate cannot throw it into a dead or constant state; the decay lets training
        settle instead of stopping at the cap while still improving.
        """
        t = self.cfg.tuner
        if t.schedule == "constant":
            return peak_lr
        steps = self.steps_per_epoch()
        total = max(1, epochs * steps)
        warmup = min(int(round(t.warmup_epochs * steps)), total // 2)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=peak_lr * LR_FLOOR if warmup else peak_lr,
            decay_steps=max(1, total - warmup),
            alpha=LR_FLOOR,
            warmup_target=peak_lr if warmup else None,
            warmup_steps=warmup,
        )

    def export(self) -> keras.Model:
        """The last built trial as a deliverable (image + order -> probabilities)."""
        backbone = self.last_backbone
        if backbone is None:  # frozen trial: the backbone as it was before any training
            backbone = self.bank.pristine(self.last_plan.backbone, self.image_size)
        return build_export_model(backbone, self.last_head, self.image_size)

    # ----- data --------------------------------------------------------------------------
    def layout(self) -> Layout:
        """How cached features are stored: each split's rows together."""
        if self._layout is None:
            self._layout = Layout.of(self.data.split)
        return self._layout

    def inputs_for(self, plan: TrialPlan) -> Any:
        """What the trunk eats, for every row of the dataset: pixels, or features at the cut."""
        if plan.freeze == C.FREEZE_NONE:
            return self.data.pixels
        cache = self.cache
        if cache is None:  # cache.enabled: false: this trial's features, computed for it alone
            cache = self._uncached
            cache.clear()
        fill = list(self.freeze[plan.backbone]) if self.cache is not None else [plan.freeze]
        return cache.get(
            self.bank, plan.backbone, self.image_size, plan.freeze, self.data.pixels, self.data.content_key(), fill,
            self.layout(),
        )

    def cached_inputs(self, plan: TrialPlan) -> FeatureSet | None:
        """The trial's inputs at its cut when the cache holds them already, stored as float32 (what
        the exported model computes itself); None where reading them would need a backbone pass."""
        cache = self.cache
        if cache is None or plan.freeze == C.FREEZE_NONE or cache.dtype != "float32":
            return None
        if not cache.ready(self.bank, plan.backbone, self.image_size, plan.freeze, self.data.content_key(), self.layout()):
            return None
        return self.inputs_for(plan)

    def degenerate_cached_cuts(self, backbone: str, cuts: list[str], sample: int = 256) -> list[tuple[str, float]]:
        """(cut, spread) of each frozen cut whose cached features hardly differ between training
        images; fills the cache (every cut in one pass) if it is empty."""
        out = []
        for cut in cuts:
            plan = TrialPlan(backbone, cut, 0, 0, 0.0, C.ENCODING_NONE, 0.0)
            spread = feature_spread(self.inputs_for(plan).split_rows("train", sample))
            if spread < DEGENERATE_SPREAD:
                out.append((cut, spread))
        return out

    def dataset(self, x: Any, split: str, shuffle: bool, seed: int) -> tf.data.Dataset:
        """Batches of (features, order) -> label for one split, reshuffled every epoch from `seed`.

        `x` is the dataset's pixels or a cut's cached features (`FeatureSet`), in memory or on
        disk; either way tf.data reads them (`autoorder.model.streams`), never a Python
        generator. In-memory tensors of a split are made once and shared by every trial (made
        per trial, resident memory crept up with the number of trials); only the cheap shuffle
        on top is per trial, so each trial's batch order follows its own seed.
        """
        idx = self.data.indices(split)
        extras = (self.data.orders[idx], self.data.y[idx])
        if isinstance(x, FeatureSet) and x.tensors is not None and x.tensors[split].dtype == tf.float32:
            # Float32 features in memory: rows already in the model's input structure (no cast
            # to trace per trial).
            rows = self._shared_rows(x, split, lambda: tf.data.Dataset.from_tensor_slices(
                ({FEATURES_INPUT: x.tensors[split], ORDER_INPUT: tf.constant(extras[0])}, tf.constant(extras[1]))))
            return self._shuffled(rows, len(idx), shuffle, seed).batch(self.cfg.space.batch_size).prefetch(2)
        if isinstance(x, FeatureSet):
            rows = x.dataset(split, extras, shuffle, seed)
        elif x.path is None:  # pixels in memory (a small set)
            rows = self._shared_rows(x, split, lambda: tf.data.Dataset.from_tensor_slices((x[idx], *extras)))
            rows = self._shuffled(rows, len(idx), shuffle, seed)
        else:  # pixels memory-mapped from the cache folder: read as runs of consecutive rows
            rows = streams.file_rows(x.path, x.header_bytes, tuple(x.array.shape[1:]), x.slots[idx], extras, shuffle, seed)
        ds = rows.batch(self.cfg.space.batch_size)
        ds = ds.map(lambda a, o, y: ({FEATURES_INPUT: tf.cast(a, tf.float32), ORDER_INPUT: o}, y))
        return ds.prefetch(2)

    def _shared_rows(self, x: Any, split: str, make: Any) -> tf.data.Dataset:
        """A split's unshuffled rows over the in-memory `x`, made once (`make()`) and shared by
        every trial; `x` is kept with them so its id stays valid. Those of another FeatureSet
        are dropped first: the cache may have let it go."""
        key = (id(x), split)
        if key not in self._datasets:
            if isinstance(x, FeatureSet):
                self._datasets = {k: v for k, v in self._datasets.items() if not isinstance(v[0], FeatureSet) or v[0] is x}
            self._datasets[key] = (x, make())
        return self._datasets[key][1]

    @staticmethod
    def _shuffled(rows: tf.data.Dataset, n: int, shuffle: bool, seed: int) -> tf.data.Dataset:
        return rows.shuffle(max(1, n), seed=seed, reshuffle_each_iteration=True) if shuffle else rows

    # ----- training ----------------------------------------------------------------------
    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        plan = self.declare(hp)
        seed = self.trial_seed
        x = self.inputs_for(plan)
        train = self.dataset(x, "train", shuffle=True, seed=seed)
        val = self.dataset(x, "val", shuffle=False, seed=seed)
        callbacks = list(kwargs.pop("callbacks", []))
        callbacks.append(NanGuard())
        if self.cfg.tuner.patience:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor=self.cfg.tuner.objective, patience=self.cfg.tuner.patience, mode="max")
            )
        epochs = kwargs.pop("epochs", self.cfg.tuner.epochs)
        initial_epoch = kwargs.pop("initial_epoch", 0)
        t0 = time.perf_counter()
        try:
            if self._two_stage(plan) and initial_epoch == 0:
                self._train_head_first(plan, model, seed)
            return self._fit(model, train, val, epochs, initial_epoch, callbacks, self.class_weights(plan))
        finally:
            self.fit_seconds += time.perf_counter() - t0

    def _two_stage(self, plan: TrialPlan) -> bool:
        return self.cfg.tuner.fine_tune_epochs > 0 and plan.freeze != C.FREEZE_ALL

    def _train_head_first(self, plan: TrialPlan, model: keras.Model, seed: int) -> None:
        """Stage 1 of the standard recipe: the head alone on cached pooled features.

        Stage 2 (the trial's own fit) then trains above the cut at a lower learning rate,
        starting from a head that already fits, so fine-tuning does not wreck the backbone.
        """
        head = model.get_layer("head")
        pooled = self.inputs_for(dataclasses.replace(plan, freeze=C.FREEZE_ALL))
        stage1 = build_training_model(None, pooled.row_shape, head)
        stage1.compile(
            optimizer=self.optimizer(plan.learning_rate, self.cfg.tuner.fine_tune_epochs),
            loss="sparse_categorical_crossentropy",
            metrics=self.metrics(),
        )
        self._fit(
            stage1,
            self.dataset(pooled, "train", shuffle=True, seed=seed),
            self.dataset(pooled, "val", shuffle=False, seed=seed),
            self.cfg.tuner.fine_tune_epochs,
            0,
            [NanGuard()],
            self.class_weights(plan),
        )

    def _fit(self, model, train, val, epochs, initial_epoch, callbacks, class_weight=None):
        if self.cfg.tuner.trainer == "lean" and loop.supports(model):  # a fraction of fit's fixed cost per model
            return loop.fit(model, train, val, epochs, initial_epoch, callbacks, class_weight,
                            num_classes=len(self.data.classes), balanced=self.cfg.tuner.objective == "val_balanced_accuracy",
                            batch_size=self.cfg.space.batch_size)
        build_for_training(model, train.element_spec)  # one trace of the train step, not two
        return model.fit(
            train,
            validation_data=val,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            shuffle=False,  # tf.data shuffles, seeded
            class_weight=class_weight,
            verbose=0,
        )

