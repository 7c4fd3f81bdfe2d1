"""session.release: the gradient registrations that pin dead graphs are dropped."""

import gc
import weakref

import pytest
import tensorflow as tf

from autoorder.model import session

pytestmark = [pytest.mark.memory]


def test_release_frees_a_graph_held_by_a_custom_gradient():
    @tf.custom_gradient
    def scaled(x):
        return x * 2.0, lambda dy: dy * 2.0

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = scaled(x)
        return tape.gradient(y, x)

    assert float(step(tf.constant(1.0))) == 2.0
    graph = weakref.ref(step.get_concrete_function(tf.TensorSpec([], tf.float32)).graph)
    del step
    gc.collect()
    assert graph() is not None  # TensorFlow's gradient registry keeps the traced graph alive
    session.release()
    assert graph() is None
    assert session.drop_custom_gradients() == 0

