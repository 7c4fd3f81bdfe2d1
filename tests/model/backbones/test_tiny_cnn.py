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

