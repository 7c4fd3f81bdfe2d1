"""Clean cuts of a functional Keras graph, and splitting a model at one.

A clean cut is a tensor that every path from the model input to the model output goes
through: no skip connection or branch crosses it. Everything below a clean cut can be frozen
and its activations cached; everything above it is a model of its own that eats them.

Only top-level layers are candidates: a nested sub-model is one opaque node, so its own
output can be a cut but nothing inside it can (flatten a model first to cut inside it).
"""

from __future__ import annotations

from typing import Any

import keras

from autoorder.compat.keras import functional_graph, nodes_by_depth
from autoorder.core.errors import PluginError

_MAX_LISTED = 30


def _graph(model: Any) -> Any:
    """The functional graph of `model` (Sequential models hold one once built)."""
    graph = functional_graph(model)
    if graph is None:
        raise PluginError(
            f"Model {getattr(model, 'name', '?')!r} ({type(model).__name__}) has no functional graph to cut. "
            "Expected a functional keras.Model (or a built Sequential)."
        )
    return graph


def _nodes_in_order(graph: Any) -> list:
    """The graph's nodes, inputs first (a producer always lies deeper than its consumers)."""
    by_depth = nodes_by_depth(graph)
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def _cut_tensors(graph: Any) -> list[tuple[str, Any]]:
    """(layer name, its output tensor in this graph) for each clean cut, shallow to deep."""
    nodes = _nodes_in_order(graph)
    outputs = {id(t) for t in graph.outputs}

    uses: dict[int, int] = {}
    for node in nodes:
        for t in node.input_tensors:
            uses[id(t)] = uses.get(id(t), 0) + 1
    calls: dict[int, int] = {}
    for node in nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1

    live: set[int] = {id(t) for t in graph.inputs}
    cuts: list[tuple[str, Any]] = []
    for node in nodes:
        if node.is_input:
            continue  # its tensor is a model input, live from the start
        for t in node.input_tensors:
            uses[id(t)] -= 1
            if uses[id(t)] == 0 and id(t) not in outputs:
                live.discard(id(t))
        produced = [id(t) for t in node.output_tensors]
        live.update(i for i in produced if uses.get(i, 0) > 0 or i in outputs)
        op = node.operation
        if (
            len(produced) == 1
            and live == set(produced)
            and produced[0] not in outputs
            and isinstance(op, keras.layers.Layer)
            and not isinstance(op, keras.layers.InputLayer)
            and calls[id(op)] == 1
        ):
            cuts.append((op.name, node.output_tensors[0]))
    return cuts


def clean_cuts(model: Any) -> list[str]:
    """Names of the top-level layers whose output is a clean cut of `model`, shallow to deep.

    Walks the nodes in topological order keeping the tensors produced so far that are still
    needed (by a later node, or as a model output). Where that set is exactly the one output
    of a layer called once, that layer is a cut. The input layer and the layer producing the
    model output are left out.
    """
    return [name for name, _ in _cut_tensors(_graph(model))]


def _listed(names: list[str]) -> str:
    if len(names) <= _MAX_LISTED:
        return str(names)
    return str(names[:_MAX_LISTED])[:-1] + f", ... ({len(names)} in all)]"


def split_model(model: Any, cut: str) -> tuple[keras.Model, keras.Model]:
    """Split `model` at the clean cut `cut` into (prefix, suffix).

    `prefix` maps the model input to the output of layer `cut`; `suffix` maps that tensor to
    the model output, so `suffix(prefix(x)) == model(x)`. Both share layer objects (and so
    weights) with `model`.

    Raises:
        PluginError: `cut` is not a clean cut of `model`.
    """
    graph = _graph(model)
    tensors = dict(_cut_tensors(graph))
    cuts = list(tensors)
    if cut not in tensors:
        names = {layer.name for layer in model.layers}
        why = (
            "a skip connection or branch crosses it, or it is the model's output layer"
            if cut in names
            else "it is not the name of a top-level layer"
        )
        raise PluginError(
            f"Model {model.name!r} cannot be split at {cut!r}: {why}. Expected one of its clean cuts: {_listed(cuts)}."
        )
    # The tensor of this graph, not `layer.output`: a nested model's `output` is its own.
    at = tensors[cut]
    prefix = keras.Model(graph.input, at, name=f"{model.name}_to_{cut}")
    suffix = keras.Model(at, graph.output, name=f"{model.name}_from_{cut}")
    return prefix, suffix
