"""Model and weights files through the one write path: size estimate, free space, no leftovers."""

from __future__ import annotations

import errno
import os

import keras
import numpy as np
import pytest

from autoorder.core import fileio
from autoorder.core.errors import WriteError
from autoorder.model.saving import estimated_bytes, save_model_atomic, save_weights_atomic


def _model():
    i = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3)(i)
    o = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    m = keras.Model(i, o)
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(np.zeros((4, 16, 16, 3)), np.zeros(4), verbose=0)  # optimizer slots exist: they are saved too
    return m


def test_the_estimate_covers_what_is_written(tmp_path):
    m = _model()
    save_weights_atomic(m, tmp_path / "w.weights.h5")
    save_model_atomic(m, tmp_path / "m.keras")
    assert estimated_bytes(m) >= os.path.getsize(tmp_path / "w.weights.h5")
    assert estimated_bytes(m) >= os.path.getsize(tmp_path / "m.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "w.weights.h5"]


def test_no_room_means_h5py_never_starts_and_the_old_file_is_kept(tmp_path, monkeypatch):
    m = _model()
    save_weights_atomic(m, tmp_path / "w.weights.h5")
    before = (tmp_path / "w.weights.h5").read_bytes()
    monkeypatch.setattr(fileio, "free_bytes", lambda folder: estimated_bytes(m))  # not the margin on top
    monkeypatch.setattr(keras.Model, "save_weights", lambda *a, **k: pytest.fail("h5py started on a full disk"))
    with pytest.raises(WriteError, match=r"Cannot write 'w.weights.h5' in the folder .*no space left on the device \(ENOSPC: about"):
        save_weights_atomic(m, tmp_path / "w.weights.h5")
    assert (tmp_path / "w.weights.h5").read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["w.weights.h5"]


def test_a_save_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    m = _model()

    def half(self, filepath, *a, **k):
        open(filepath, "wb").write(b"PK half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", half)
    with pytest.raises(WriteError, match=r"^Cannot write the best model in the folder .*no space left on the device \(ENOSPC\)"):
        save_model_atomic(m, tmp_path / "best_model.keras", what="the best model")
    assert list(tmp_path.iterdir()) == []
