"""tiny_cnn: no ImageNet weights; loads a weights file of its own."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autoorder.core.errors import WeightsError
from autoorder.model.catalog import create_backbone

SIZE = 32


def test_tiny_cnn_has_no_imagenet_weights():
    with pytest.raises(WeightsError, match=r"'tiny_cnn' has no ImageNet weights.*Got 'imagenet' instead"):
        create_backbone("tiny_cnn").build(SIZE, "imagenet")


def test_tiny_cnn_loads_a_weights_file(tmp_path):
    bb = create_backbone("tiny_cnn")
    keras.utils.set_random_seed(1)
    src = bb.build(SIZE, None)
    src.save_weights(tmp_path / "tiny.weights.h5")
    keras.utils.set_random_seed(2)
    model = bb.build(SIZE, str(tmp_path / "tiny.weights.h5"))
    for a, b in zip(model.get_weights(), src.get_weights()):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "bad.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match=r"cannot be loaded into backbone 'tiny_cnn'"):
        bb.build(SIZE, str(tmp_path / "bad.weights.h5"))



def test_tiny_cnn_keeps_the_signal_through_its_blocks():
    """He initialisation: a fresh tiny_cnn's last block carries about the scale of its
    (standardised, RMS 1) input: RMS 1.7-2.2 here. With Keras' default (Glorot) it shrank to
    0.27, and some trainings sat at chance for 10-20 epochs before they learned."""
    x = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 3)).astype("float32")
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        model = create_backbone("tiny_cnn").build(SIZE, None)
        probe = keras.Model(model.inputs, model.get_layer("block4_conv").output)
        rms = float(np.sqrt(np.mean(np.square(probe.predict(x, verbose=0)))))
        assert 0.5 <= rms <= 8.0, (seed, rms)
