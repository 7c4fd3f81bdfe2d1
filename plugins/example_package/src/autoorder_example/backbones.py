"""A small residual-free CNN backbone: the shape autoorder expects, nothing more."""

import keras


class ExampleCNN:
    name = "example_cnn"
    default_image_size = 32

    def build(self, image_size, weights=None):
        inputs = keras.Input((image_size, image_size, 3), name="pixels")
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
        for i, filters in enumerate((8, 16, 32), start=1):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"stage{i}_conv")(x)
            x = keras.layers.BatchNormalization(name=f"stage{i}_bn")(x)
            x = keras.layers.ReLU(name=f"stage{i}_relu")(x)
            x = keras.layers.MaxPooling2D(name=f"stage{i}")(x)
        model = keras.Model(inputs, x, name="example_cnn")
        if weights == "imagenet":
            raise ValueError("example_cnn has no pretrained weights: set space.weights to null or a weights file")
        if weights is not None:
            model.load_weights(weights)
        return model

    def freeze_points(self):
        return ["stage1", "stage2"]
