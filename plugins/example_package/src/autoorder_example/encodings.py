"""An order encoding: a learned per-order bias added to the image features."""

import keras


class OrderBias:
    name = "order_bias"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        # Zero-initialised, so training starts from the image-only model.
        bias = keras.layers.Embedding(
            num_buckets, features.shape[-1], embeddings_initializer="zeros", name="order_bias_table"
        )(order_index)
        return keras.layers.Add(name="order_bias_add")([features, bias])
