"""Keras fakes shared by tests: a tiny backbone that counts the images it sees, and its registry."""

import keras
import tensorflow as tf

from autoorder.model.catalog import builtins
from autoorder.registry.table import Registry

SEEN = tf.Variable(0, dtype=tf.int64, trainable=False)  # images through the backbone's first layer


@keras.saving.register_keras_serializable("autoorder_tests")
class CountImages(keras.layers.Layer):
    def call(self, x):
        SEEN.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return x


class Mini:
    name = "mini"
    default_image_size = 16

    def build(self, image_size, weights):
        i = keras.Input((image_size, image_size, 3))
        x = CountImages(name="count")(i)
        x = keras.layers.Rescaling(1 / 255.0, name="scale")(x)
        x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
        x = keras.layers.MaxPooling2D(name="p1")(x)
        x = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(x)
        x = keras.layers.MaxPooling2D(name="p2")(x)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c3")(x)
        return keras.Model(i, x)

    def freeze_points(self):
        return ["p1", "p2"]


def registry():
    reg = Registry()
    for e in builtins().encodings.values():
        reg.register_encoding(e.obj)
    reg.register_backbone(Mini)
    return reg


class Flat(Mini):
    """Features that are the same for every image (what a random-weight application gives)."""

    name = "flat"

    def build(self, image_size, weights):
        i = keras.Input((image_size, image_size, 3))
        x = keras.layers.Rescaling(0.0, name="zero")(i)
        x = keras.layers.Conv2D(4, 3, name="c1")(x)
        x = keras.layers.MaxPooling2D(name="p1")(x)
        return keras.Model(i, x)

    def freeze_points(self):
        return ["p1"]
