"""Every framework internal autoorder relies on (autoorder.compat), asserted by name and behaviour.

When a new Keras, Keras Tuner or TensorFlow release changes one of them, the test named after it
fails here, instead of a search silently giving a wrong number somewhere else.
"""

from __future__ import annotations

import contextlib
import inspect
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from autoorder import compat
from autoorder.compat import keras as ck
from autoorder.compat import keras_tuner as ckt
from autoorder.compat import tensorflow as ctf
from autoorder.core.errors import RunError


def _oracle(tmp_path, max_trials=3):
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=max_trials, seed=0)
    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3, 4, 5])
    oracle.update_space(hp)
    oracle._set_project_dir(str(tmp_path), "p")  # noqa: SLF001 - test setup only
    return oracle


# ----- Keras Tuner ----------------------------------------------------------------------------------
def test_checked_versions_are_the_installed_ones_or_older():
    import importlib.metadata as md

    for pkg, checked in compat.CHECKED_VERSIONS.items():
        installed = tuple(int(x) for x in md.version(pkg).split(".")[:2])
        assert installed >= tuple(int(x) for x in checked.split(".")[:2]), (pkg, md.version(pkg), checked)


def test_install_is_idempotent_and_routes_state_files_through_autoorder(tmp_path, monkeypatch):
    compat.install()
    compat.install()
    from keras_tuner.src import utils

    assert ckt.installed()
    assert utils.save_json is ckt.atomic_save_json and utils.load_json is ckt.checked_load_json
    # Keras Tuner looks the functions up on its utils module when it saves and reloads state.
    written = []
    monkeypatch.setattr(ckt, "write_text", lambda path, text: (written.append(str(path)), Path(path).write_text(text)))
    oracle = _oracle(tmp_path)
    oracle.save()
    assert written and written[0].endswith("oracle.json")
    Path(written[0]).write_text('{"torn": ', encoding="utf-8")
    with pytest.raises(RunError, match=r"oracle\.json.*corrupt"):
        _oracle(tmp_path).reload()


def test_checked_load_json_names_a_corrupt_state_file(tmp_path):
    path = tmp_path / "trial.json"
    path.write_text('{"torn": ', encoding="utf-8")
    with pytest.raises(RunError, match=r"trial\.json.*corrupt"):
        ckt.checked_load_json(str(path))


def test_parent_to_proto_is_silent_and_equal_to_keras_tuners(capsys):
    from keras_tuner.src.engine import conditions

    compat.install()
    for values in (["a", "b"], [1, 2], [0.5], [True]):
        proto = conditions.Parent("x", values).to_proto()
        assert proto.parent.name == "x" and len(proto.parent.values) == len(values)
        assert conditions.Parent.from_proto(proto).values == values
    assert capsys.readouterr().out == ""


def test_keras_tuners_prints_go_to_its_logger_not_stdout(capsys, caplog):
    from keras_tuner.src.engine import trial as trial_module

    compat.install()
    for module in ckt.PRINTING_MODULES:
        assert "print(" in inspect.getsource(module), module.__name__  # still a module that prints
        assert module.print is ckt.quiet_print, module.__name__
    caplog.set_level("DEBUG", logger="keras_tuner")
    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2])
    trial_module.Trial(hp, trial_id="7").summary()  # prints "Trial 7 summary" in Keras Tuner 1.4.8
    assert capsys.readouterr().out == ""
    assert "Trial 7 summary" in caplog.text


def test_reloading_a_tuner_prints_nothing_to_stdout(tmp_path, capsys, caplog):
    compat.install()
    caplog.set_level("DEBUG", logger="keras_tuner")

    def build(hp):
        hp.Choice("units", [1, 2])
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.get("units"))])
        model.compile(loss="mse")
        return model

    kwargs = dict(objective="loss", max_trials=1, directory=str(tmp_path), project_name="p")
    kt.RandomSearch(build, **kwargs).save()
    kt.RandomSearch(build, **kwargs)  # prints "Reloading Tuner from ..." in Keras Tuner 1.4.8
    assert capsys.readouterr().out == ""
    assert "Reloading Tuner from" in caplog.text


def test_debug_flag_exists():
    from keras_tuner.src import config

    assert hasattr(config, "DEBUG")


def test_maybe_distribute_is_a_context_manager_without_strategy():
    with ckt.maybe_distribute(None):
        pass


def test_save_best_epoch_saves_through_its_private_hook(tmp_path):
    class Recorder(ckt.BestEpochCheckpoint):
        written: list = []

        def write(self, model, path):
            self.written.append(path)

    cb = Recorder(kt.Objective("val_accuracy", "max"), str(tmp_path / "w.weights.h5"))
    assert inspect.signature(ckt.BestEpochCheckpoint.__init__).parameters.keys() >= {"objective", "filepath"}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_accuracy": 0.5})
    cb.on_epoch_end(1, {"val_accuracy": 0.4})  # worse: not saved
    cb.on_epoch_end(2, {"val_accuracy": 0.6})
    assert Recorder.written == [str(tmp_path / "w.weights.h5")] * 2
    assert cb.best_value == 0.6


@pytest.mark.parametrize(
    "name",
    ["_try_build", "_build_hypermodel", "_populate_initial_space", "_get_tuner_fname", "_is_worker", "_get_checkpoint_fname",
     "_run_and_update_trial"],
)
def test_tuner_private_hooks_exist(name):
    assert callable(getattr(kt.Tuner, name, None)), f"kt.Tuner.{name} is gone: update autoorder.compat.keras_tuner.TunerHooks"


def test_tuner_calls_its_hooks_where_autoorder_relies_on_it():
    assert "self._try_build(" in inspect.getsource(kt.Tuner.load_model)
    base = inspect.getsource(kt.engine.base_tuner.BaseTuner)
    assert "self._populate_initial_space()" in base and "self._get_tuner_fname()" in base and "self._is_worker()" in base


def test_only_a_fatal_error_passes_keras_tuners_catch_all_around_a_trial():
    """A write error inside a trial becomes `FatalWriteError`, which must end the search."""
    source = inspect.getsource(kt.engine.base_tuner.BaseTuner._try_run_and_update_trial)
    assert "self._run_and_update_trial(" in source and "isinstance(e, errors.FatalError)" in source
    from autoorder.compat.keras_tuner import FatalWriteError
    from autoorder.core.errors import WriteError

    e = FatalWriteError("Cannot write 'x' in the folder 'y': no space left on the device (ENOSPC).", 28, "y")
    assert isinstance(e, kt.errors.FatalError) and isinstance(e, WriteError) and e.errno == 28 and str(e).startswith("Cannot")


def test_oracle_bookkeeping(tmp_path):
    oracle = _oracle(tmp_path)
    assert ckt.ongoing_trials(oracle) == {} and ckt.retry_queue(oracle) == [] and ckt.ended_trial_ids(oracle) == []
    assert ckt.active_tuner_ids(oracle) == set()
    t0 = oracle.create_trial("w0")
    assert ckt.ongoing_trials(oracle) == {"w0": t0} and "w0" in ckt.active_tuner_ids(oracle)
    # A trial put back on the retry queue is handed out again before a new one.
    del ckt.ongoing_trials(oracle)["w0"]
    ckt.retry_queue(oracle).append(t0.trial_id)
    again = oracle.create_trial("w1")
    assert again.trial_id == t0.trial_id and ckt.retry_queue(oracle) == []
    t0.status = "COMPLETED"
    oracle.update_trial(t0.trial_id, {"val_accuracy": 0.5})
    oracle.end_trial(t0)
    assert ckt.ended_trial_ids(oracle) == [t0.trial_id] and "w1" not in ckt.ongoing_trials(oracle)


def test_protos_and_grpc_service():
    assert hasattr(ckt.proto(), "Condition") and hasattr(ckt.service(), "CreateTrialResponse")
    grpc_mod = ckt.service_grpc()
    assert hasattr(grpc_mod, "OracleStub") and hasattr(grpc_mod, "add_OracleServicer_to_server")


def test_oracle_client_built_without_environment_talks_through_its_stub(tmp_path):
    calls = []

    class Stub:
        def GetSpace(self, request, **kw):  # noqa: N802
            calls.append(("GetSpace", request))
            return ckt.service().GetSpaceResponse(hyperparameters=kt.HyperParameters().to_proto())

    oracle = _oracle(tmp_path)
    client = ckt.oracle_client(oracle, Stub(), "w0")
    assert ckt.unwrap_oracle(client) is oracle and ckt.unwrap_oracle(oracle) is oracle
    client.get_space()
    assert calls and calls[0][0] == "GetSpace"
    assert client.objective == oracle.objective  # other attributes come from the local oracle


# ----- Keras ---------------------------------------------------------------------------------------
def _functional():
    inp = keras.Input((4,), name="x")
    a = keras.layers.Dense(3, name="a")(inp)
    b = keras.layers.Dense(2, name="b")(a)
    return keras.Model(inp, b)


def test_functional_graph_nodes_by_depth():
    model = _functional()
    graph = ck.functional_graph(model)
    by_depth = ck.nodes_by_depth(graph)
    deepest = by_depth[max(by_depth)]
    assert all(node.is_input for node in deepest)  # inputs are the deepest nodes
    ops = {node.operation.name for nodes in by_depth.values() for node in nodes}
    assert {"a", "b"} <= ops
    node = next(n for nodes in by_depth.values() for n in nodes if n.operation.name == "b")
    assert len(node.input_tensors) == 1 and len(node.output_tensors) == 1


def test_sequential_holds_a_functional_graph():
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    graph = ck.functional_graph(seq)
    assert graph is not None and ck.nodes_by_depth(graph)
    assert ck.functional_graph(keras.layers.Dense(2)) is None


def test_run_through_graph_calls_every_operation():
    model = _functional()
    seen = []

    def call(op, *args, **kwargs):
        seen.append(op.name)
        return op(*args, **kwargs)

    out = ck.run_through_graph(model, keras.Input((4,)), call)
    assert seen == ["a", "b"] and tuple(out.shape) == (None, 2)
    assert ck.is_functional(model) and not ck.is_functional(keras.layers.Dense(2))


def test_producer_and_inbound_nodes():
    model = _functional()
    assert ck.producer(model.output).name == "b"
    assert ck.producer(np.zeros(2)) is None
    assert len(ck.inbound_nodes(model.get_layer("a"))) >= 1


def test_normalization_caches_its_statistics_until_finalize_state():
    """Why autoorder.model.weights.set_weights refreshes layers after copying weights in."""
    x = np.full((1, 3), 5.0, "float32")
    inp = keras.Input((3,))
    norm = keras.layers.Normalization(axis=-1)
    model = keras.Model(inp, norm(inp))
    norm.set_weights([np.full(3, 1.0, "float32"), np.full(3, 4.0, "float32"), np.array(0)])
    assert np.allclose(np.asarray(model(x)), 5.0)  # stale: still mean 0, variance 1
    norm.finalize_state()
    assert np.allclose(np.asarray(model(x)), 2.0)  # (5 - 1) / 2


# ----- TensorFlow ----------------------------------------------------------------------------------
def test_gradient_registry_grows_with_custom_gradients_in_graph_mode():
    table = ctf.gradient_registry()
    assert isinstance(table, dict)

    @tf.custom_gradient
    def double(x):
        return 2 * x, lambda dy: 2 * dy

    @tf.function
    def traced(x):
        return double(x)

    before = {k for k in table if k.startswith("CustomGradient-")}
    traced(tf.constant(1.0))
    after = {k for k in table if k.startswith("CustomGradient-")}
    assert after - before, "tracing a tf.custom_gradient no longer registers CustomGradient-<uid>"


@pytest.mark.parametrize("warmup", [None, 10])
def test_current_learning_rate_is_the_schedules_rate_at_every_step(warmup):
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-4, 40, alpha=0.01, warmup_target=0.01 if warmup else None, warmup_steps=warmup or 0
    )
    opt = keras.optimizers.Adam(schedule)
    opt.build([keras.Variable(np.zeros(2, "float32"))])
    traced = tf.function(lambda: ck.current_learning_rate(opt), autograph=False)
    for step in [0, 1, 9, 10, 11, 30, 49, 50, 51, 80]:
        opt.iterations.assign(step)
        expected = float(schedule(step))
        assert float(ck.current_learning_rate(opt)) == pytest.approx(expected, rel=1e-6), step
        assert float(traced()) == pytest.approx(expected, rel=1e-6), step


def test_graph_optimizer_off_sets_the_calling_threads_function_config_and_restores_it():
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    def meta_optimizer_disabled() -> bool:
        proto = config_pb2.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized)
        return proto.graph_options.rewrite_options.disable_meta_optimizer

    before = context.context().function_call_options
    assert not meta_optimizer_disabled()
    with ctf.graph_optimizer_off():
        assert meta_optimizer_disabled()
        assert float(tf.function(lambda x: x * 2.0 + 1.0)(tf.constant(1.0))) == 3.0
    assert context.context().function_call_options is before
    assert not meta_optimizer_disabled()


def test_a_loop_traced_and_run_on_the_single_threaded_executor_is_not_lowered():
    """The single-threaded executor refuses v1 control flow: while_v2 must see the executor type
    when it traces (control_flow_util_v2.maybe_set_lowering_attr), and keep a functional While."""
    from tensorflow.python.eager import context

    def count(n):
        return tf.while_loop(lambda i, acc: i < n, lambda i, acc: (i + 1, acc + tf.cast(i, tf.float32)), (0, 0.0))[1]

    fn = tf.function(count, autograph=False, input_signature=[tf.TensorSpec((), tf.int32)])
    before = context.context().function_call_options.executor_type
    with ctf.graph_optimizer_off(single_threaded=True):
        assert context.context().function_call_options.executor_type == "SINGLE_THREADED_EXECUTOR"
        assert float(fn(tf.constant(5))) == 10.0
        ops = fn.get_concrete_function().graph.get_operations()
        assert any(op.type in ("While", "StatelessWhile") for op in ops)
    assert context.context().function_call_options.executor_type == before



def _bn_net(epsilon: float = 1e-3, axis: int = -1) -> keras.Model:
    """A batch normalization with statistics far from their initial values (after a convolution
    for channels-last inputs: the fused op's usual place)."""
    keras.utils.set_random_seed(3)
    x = keras.Input((6, 6, 3) if axis == -1 else (3, 6, 6))
    y = keras.layers.Conv2D(8, 3, use_bias=False)(x) if axis == -1 else x
    bn = keras.layers.BatchNormalization(axis=axis, epsilon=epsilon)
    y = keras.layers.ReLU(6.0)(bn(y))
    model = keras.Model(x, keras.layers.Flatten()(y))
    rng = np.random.default_rng(0)
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape), rng.normal(0, 0.3, mean.shape),
                    rng.uniform(0.3, 3.0, var.shape)])
    return model


def _traced(model: keras.Model, fused: bool) -> tuple:
    """The model's inference outputs on a fixed input, and the op types of its traced graph."""
    x = np.random.default_rng(1).normal(size=(4, *model.input.shape[1:])).astype("float32")
    fn = tf.function(lambda t: model(t, training=False), autograph=False)
    with ck.fused_batchnorm_inference() if fused else contextlib.nullcontext():
        concrete = fn.get_concrete_function(tf.TensorSpec(x.shape, tf.float32))
    kinds = {op.type for op in concrete.graph.get_operations()}
    return concrete(tf.constant(x)).numpy(), kinds


def test_fused_batchnorm_inference_computes_keras_batch_normalization_in_one_op():
    from keras.src.backend.tensorflow import nn as backend_nn

    model = _bn_net()
    keras_out, keras_ops = _traced(model, fused=False)
    fused_out, fused_ops = _traced(model, fused=True)
    assert "FusedBatchNormV3" in fused_ops and "FusedBatchNormV3" not in keras_ops
    np.testing.assert_allclose(fused_out, keras_out, rtol=1e-5, atol=1e-6)
    assert np.abs(keras_out).max() > 0.1  # not a vacuous comparison
    # Keras' own function is back after the block, even when the block fails
    with pytest.raises(RuntimeError), ck.fused_batchnorm_inference():
        raise RuntimeError("boom")
    assert backend_nn.batch_normalization.__module__ == backend_nn.__name__


@pytest.mark.parametrize("epsilon, axis", [(1e-6, -1), (1e-3, 1)], ids=["tiny-epsilon", "channels-first"])
def test_fused_batchnorm_inference_leaves_to_keras_what_the_fused_op_would_change(epsilon, axis):
    model = _bn_net(epsilon, axis)
    keras_out, _ = _traced(model, fused=False)
    fused_out, kinds = _traced(model, fused=True)
    assert "FusedBatchNormV3" not in kinds
    np.testing.assert_array_equal(fused_out, keras_out)
