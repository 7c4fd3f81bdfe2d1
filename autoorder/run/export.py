"""The deliverable: the best trial rebuilt as image + order -> probabilities, saved and tested.

The test split is scored by the trained model on the cached features of the test photos when
the cache holds them (the exported model spot-checked against it), else by the exported model
on the photos themselves (`score_test`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from autoorder.compat.keras_tuner import maybe_distribute
from autoorder.core.errors import AutoOrderError, RunError
from autoorder.core.fileio import write_csv, write_json
from autoorder.model import loop
from autoorder.model.saving import save_model_atomic
from autoorder.run.runfiles import check_weights_file
from autoorder.schema.results import BEST_MODEL, LABELS, TEST_PREDICTIONS, BestModel, OrderAccuracy, TrialRecord


TEST_CHUNK = 64  # test images held at once, and predict's batch: memory stays flat and small, even at 224 px
SPOT_CHECK = 8  # test photos the exported model predicts itself when the test split is scored from the cache
SPOT_TOLERANCE = 1e-3  # largest difference in a probability between the two (cached and full paths agree to ~1e-6)


def predict_rows(model: Any, data: Any, idx: np.ndarray) -> np.ndarray:
    """Class probabilities of the exported model for rows `idx`, TEST_CHUNK images at a time."""
    parts = [
        model.predict({"image": data.pixels[idx[s : s + TEST_CHUNK]].astype(np.float32), "order": data.orders[idx[s : s + TEST_CHUNK]]},
                      batch_size=TEST_CHUNK, verbose=0)
        for s in range(0, len(idx), TEST_CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(data.classes)), dtype=np.float32)


def score_test(trained: Any, exported: Any, space: Any, data: Any, idx: np.ndarray) -> np.ndarray:
    """Class probabilities for the test rows `idx`.

    Where the feature cache already holds the best trial's inputs at its cut (float32), the
    trained model scores those: the backbone's frozen layers are not run over the test photos a
    second time (at 100,000 photos, 15,000 of them). The exported model then predicts the first
    SPOT_CHECK test photos itself and must agree to SPOT_TOLERANCE, so a deliverable that does
    not compute what was scored is named, not shipped. Elsewhere the exported model predicts
    every test photo."""
    cached = space.cached_inputs(space.last_plan)
    if cached is None or not len(idx):
        return predict_rows(exported, data, idx)
    probs = loop.predict(trained, space.dataset(cached, "test", shuffle=False, seed=0), space.cfg.space.batch_size)
    spot = idx[:SPOT_CHECK]
    direct = np.asarray(exported({"image": data.pixels[spot].astype(np.float32), "order": data.orders[spot]}, training=False))
    gap = float(np.abs(direct - probs[: len(spot)]).max())
    if not gap <= SPOT_TOLERANCE:
        raise RunError(
            f"The exported model does not compute what its trial was scored with: on {len(spot)} test photos its "
            f"probabilities differ from the trained model's on cached features by up to {gap:.3g} (expected at most "
            f"{SPOT_TOLERANCE:g}). A backbone plugin whose layers behave differently when rebuilt (randomness, training-"
            "mode layers) can cause this; check the plugin with autoorder.testing.check_backbone."
        )
    return probs


def export_best(tuner: Any, space: Any, best_trial: TrialRecord, data: Any, out: Path) -> BestModel:
    """Rebuild the best trial, load its best epoch, export image+order -> probabilities, test it."""
    trial = tuner.oracle.get_trial(best_trial.id)
    checkpoint = Path(tuner.checkpoint_file(trial.trial_id))
    if not checkpoint.exists():  # distributed: a worker wrote to a folder the chief does not see
        raise RunError(
            f"The weights of the best trial ({checkpoint}) are not in the run folder {str(out)!r}. Workers of a "
            "distributed search must use the chief's run folder (a shared folder across hosts): copy their "
            "tuner/trial_* folders into it, then run the chief's command again to export."
        )
    what = f"the best trial's weights, trial {best_trial.id}"
    check_weights_file(checkpoint, what)  # a truncated file is named, not an h5py traceback
    try:
        trained = tuner.load_model(trial)  # builds via space.build and loads the checkpoint of its best epoch
    except AutoOrderError:
        raise
    except Exception as e:  # noqa: BLE001 - weights that do not fit the trial's model: name the file
        raise RunError(
            f"The {what}, {str(checkpoint)!r}, cannot be loaded into its model: {type(e).__name__}: {str(e)[:300]}. "
            "Restore the run folder from a backup, or rerun the search with --overwrite."
        ) from e
    with maybe_distribute(tuner.distribution_strategy):
        model = space.export()
    save_model_atomic(model, out / BEST_MODEL, what="the best model")
    write_json(out / LABELS, data.classes)

    idx = data.indices("test")
    probs = score_test(trained, model, space, data, idx)
    pred = probs.argmax(axis=1)
    y = data.y[idx]
    per_order = {}
    for o in sorted(set(int(v) for v in data.orders[idx])):
        m = data.orders[idx] == o
        per_order[str(o)] = OrderAccuracy(n=int(m.sum()), accuracy=float((pred[m] == y[m]).mean()))
    rows = []
    for j, i in enumerate(idx):
        r = data.rows[i]
        rows.append([r.path, r.group, r.order, r.label, data.classes[pred[j]], round(float(probs[j, pred[j]]), 6)])
    write_csv(out / TEST_PREDICTIONS, ["image", "object_id", "order", "label", "predicted", "probability"], rows)
    return BestModel(
        trial=best_trial.id,
        hyperparameters=best_trial.hyperparameters,
        val_accuracy=best_trial.val_accuracy,
        score=best_trial.objective_value,
        test_accuracy=float((pred == y).mean()),
        test_images=int(len(idx)),
        test_per_order=per_order,
        model=BEST_MODEL,
        keras_version=keras.__version__,
    )
