"""A tiny reference backbone plugin: one file, no autoorder import, no base class.

autoorder finds it because `plugins/` is the default plugin folder (`plugins.paths`), and
accepts it because it has the right shape: `name`, `default_image_size`,
`build(image_size, weights)` and `freeze_points()`. Copy it to start your own.
"""

import keras


class ReferenceCNN:
    """Three small conv blocks; cut points after the first two."""

    name = "reference_cnn"
    default_image_size = 32

    def build(self, image_size, weights=None):
        """A functional model over RGB pixels in [0, 255], holding its own preprocessing."""
        inputs = keras.Input((image_size, image_size, 3), name="pixels")
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv")(x)
        x = keras.layers.MaxPooling2D(name="block1_pool")(x)
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="block2_conv")(x)
        x = keras.layers.MaxPooling2D(name="block2_pool")(x)
        x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="block3_conv")(x)
        model = keras.Model(inputs, x, name="reference_cnn")
        if weights == "imagenet":
            raise ValueError("reference_cnn has no pretrained weights: set space.weights to null or a weights file")
        if weights is not None:
            model.load_weights(weights)  # a .weights.h5 file saved from this same model
        return model

    def freeze_points(self):
        """Layer names, shallow to deep, where nothing but the main path crosses."""
        return ["block1_pool", "block2_pool"]
