"""Keras Tuner internals autoorder depends on (checked with keras-tuner 1.4.8).

- Private modules: `keras_tuner.src.utils.save_json/load_json` (every state file goes through
  them; replaced by atomic, checked versions), `keras_tuner.src.engine.conditions.Parent.to_proto`
  (1.4.8 prints from it; replaced by a silent copy), `keras_tuner.src.config.DEBUG` (prints a
  traceback per failed trial), `keras_tuner.src.engine.tuner.maybe_distribute`,
  `keras_tuner.src.engine.tuner_utils.TunerCallback/SaveBestEpoch` (whose `_save_model` writes
  the checkpoint), `keras_tuner.src.protos`,
  `keras_tuner.src.distribute.oracle_client.OracleClient`.
- Private methods of `kt.Tuner` that autoorder overrides or calls: `_try_build`,
  `_build_hypermodel`, `_populate_initial_space`, `_get_tuner_fname`, `_is_worker`,
  `_get_checkpoint_fname`, `_run_and_update_trial` (inside Keras Tuner's catch-all that marks
  a trial failed; only `kt.errors.FatalError` passes through it). `TunerHooks` maps them to public names, so the tuner itself overrides
  only public methods.
- Module-level `print` of `keras_tuner.src.engine.base_tuner` ("Reloading Tuner from ..."),
  `engine.oracle` ("Search: Running Trial #...", "Best val_accuracy So Far", retries),
  `engine.trial` (trial summaries), `engine.conditions` and `utils`: each module gets its own
  `print` (a module global shadows the builtin), which sends the text to the `keras_tuner`
  logger at DEBUG level instead of stdout.
- Oracle bookkeeping: `ongoing_trials` (tuner id -> running trial), `_retry_queue` (trial ids
  to hand out again), `end_order` (ended trial ids), `tuner_ids` (tuners still active), read
  and changed by the distributed search's leases.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import keras_tuner as kt
from keras_tuner.src import config as _kt_config
from keras_tuner.src import protos as _protos
from keras_tuner.src import utils as _kt_utils
from keras_tuner.src.distribute.oracle_client import OracleClient as _OracleClient
from keras_tuner.src.engine import base_tuner as _kt_base_tuner
from keras_tuner.src.engine import conditions as _kt_conditions
from keras_tuner.src.engine import oracle as _kt_oracle
from keras_tuner.src.engine import trial as _kt_trial
from keras_tuner.src.engine import tuner_utils as _tuner_utils
from keras_tuner.src.engine.tuner import maybe_distribute as _maybe_distribute

from autoorder.core.errors import RunError, WriteError
from autoorder.core.fileio import read_regular, write_text

TunerCallback = _tuner_utils.TunerCallback
maybe_distribute = _maybe_distribute

_installed = False
# Keras Tuner's modules that print to stdout (library code never prints: autoorder's own progress
# lines say the same, on stderr or to a callback).
PRINTING_MODULES = (_kt_base_tuner, _kt_oracle, _kt_trial, _kt_conditions, _kt_utils)
logger = logging.getLogger("keras_tuner")


# ----- patches ----------------------------------------------------------------------------------
def atomic_save_json(path: str, obj: Any) -> str:
    """Keras Tuner's state writer, made atomic: a kill mid-write leaves the previous file."""
    text = json.dumps(obj)
    write_text(path, text)
    return text


def checked_load_json(path: str) -> Any:
    """Keras Tuner's state reader, with a message that names a torn or corrupt file."""
    data = read_regular(path, "Search state file", "a JSON file written by Keras Tuner")
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(
            f"Search state file {path!r} is corrupt ({e}). Delete that file's trial folder to rerun the trial, "
            "or rerun the search with --overwrite."
        ) from None


def parent_to_proto(self: Any) -> Any:
    """Keras Tuner 1.4.8's `Parent.to_proto`, without its stray `print` (every gRPC call of a
    distributed search would print a condition value)."""
    first = self.values[0]
    kind = (
        "string_value" if isinstance(first, str)
        else "boolean_value" if isinstance(first, bool)
        else "int_value" if isinstance(first, int)
        else "float_value"
    )
    proto = _protos.get_proto()
    values = [proto.Value(**{kind: v}) for v in self.values]
    return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))


def quiet_print(*values: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False) -> None:
    """`print` for Keras Tuner's modules: stdout text goes to the `keras_tuner` logger (DEBUG)."""
    if file is not None and file is not sys.stdout:
        print(*values, sep=sep, end=end, file=file, flush=flush)
        return
    text = (" " if sep is None else sep).join(str(v) for v in values).strip()
    if text:
        logger.debug(text)


def install() -> None:
    """Route every Keras Tuner state file (oracle.json, tuner0.json, trial.json) through the
    atomic writer and checked reader, and keep Keras Tuner's prints ("Reloading Tuner from ...",
    "Search: Running Trial ...") off stdout. Idempotent."""
    global _installed
    for module in PRINTING_MODULES:
        module.print = quiet_print
    _kt_utils.save_json = atomic_save_json
    _kt_utils.load_json = checked_load_json
    _kt_conditions.Parent.to_proto = parent_to_proto
    # Keras Tuner prints the traceback of every failed trial in debug mode; autoorder keeps the
    # reason in the trial instead (results.json, trials.csv).
    _kt_config.DEBUG = False
    _installed = True


def installed() -> bool:
    return _installed


class BestEpochCheckpoint(_tuner_utils.SaveBestEpoch):
    """Keras Tuner's best-epoch checkpoint (`SaveBestEpoch(objective, filepath)`), with how it
    writes the weights (its private `_save_model`) exposed as `write(model, path)`."""

    def write(self, model: Any, path: str) -> None:
        model.save_weights(path)

    def _save_model(self) -> None:
        self.write(self.model, self.filepath)


# ----- the tuner's private hooks under public names ---------------------------------------------
class FatalWriteError(WriteError, kt.errors.FatalError):
    """A `WriteError` raised inside a trial: Keras Tuner lets a `FatalError` end the search."""


class TunerHooks(kt.Tuner):
    """`kt.Tuner` with its private hooks exposed under public names (override these instead)."""

    def build_for_trial(self, hp: Any) -> Any:
        """Build the trial's model (Keras Tuner's `_try_build`, which also runs gc twice)."""
        return super()._try_build(hp)

    def build_hypermodel(self, hp: Any) -> Any:
        """Only the hypermodel's build, inside the distribution strategy (`_build_hypermodel`)."""
        return self._build_hypermodel(hp)

    def declare_space(self) -> None:
        """Register the search space with the oracle (`_populate_initial_space`)."""
        super()._populate_initial_space()

    def tuner_state_file(self) -> str | None:
        """This tuner's own state file; None: Keras Tuner's default (`_get_tuner_fname`)."""
        return None

    def is_worker(self) -> bool:
        """Whether this tuner is a worker of a distributed search (`_is_worker`)."""
        return super()._is_worker()

    def checkpoint_file(self, trial_id: str) -> str:
        """Where a trial's best-epoch weights are saved (`_get_checkpoint_fname`)."""
        return self._get_checkpoint_fname(trial_id)

    # Keras Tuner's names, routed to the public ones above.
    def _run_and_update_trial(self, trial: Any, *fit_args: Any, **fit_kwargs: Any) -> Any:
        # A full disk or an unwritable folder would fail this trial and then every later one:
        # stop the search with its message instead (the trial resumes like an interrupted one).
        try:
            return super()._run_and_update_trial(trial, *fit_args, **fit_kwargs)
        except WriteError as e:
            raise FatalWriteError(str(e), e.errno, e.folder) from None

    def _try_build(self, hp: Any) -> Any:
        return self.build_for_trial(hp)

    def _populate_initial_space(self) -> None:
        self.declare_space()

    def _get_tuner_fname(self) -> str:
        return self.tuner_state_file() or super()._get_tuner_fname()

    def _is_worker(self) -> bool:
        return self.is_worker()


# ----- oracle bookkeeping -----------------------------------------------------------------------
def ongoing_trials(oracle: Any) -> dict:
    """tuner id -> the trial it runs (the live dict: changes change the oracle)."""
    return oracle.ongoing_trials


def retry_queue(oracle: Any) -> list:
    """Trial ids the oracle hands out again before new ones (the live list)."""
    return oracle._retry_queue


def ended_trial_ids(oracle: Any) -> list:
    """Ids of the trials the oracle has recorded as ended, in order."""
    return oracle.end_order


def active_tuner_ids(oracle: Any) -> set:
    """Tuners the oracle still expects to ask for trials (the live set)."""
    return oracle.tuner_ids


# ----- gRPC (distributed search) -----------------------------------------------------------------
def proto() -> Any:
    """Keras Tuner's protobuf messages."""
    return _protos.get_proto()


def service() -> Any:
    """Keras Tuner's gRPC request/response messages."""
    return _protos.get_service()


def service_grpc() -> Any:
    """Keras Tuner's gRPC stubs and servicer registration."""
    return _protos.get_service_grpc()


def unwrap_oracle(oracle: Any) -> Any:
    """The local oracle inside a Keras Tuner `OracleClient` (set up from KERASTUNER_* variables)."""
    return getattr(oracle, "_oracle", oracle)


def oracle_client(oracle: Any, stub: Any, tuner_id: str) -> Any:
    """Keras Tuner's `OracleClient` for `oracle`, talking through `stub`, without reading the
    KERASTUNER_* variables its constructor requires (the role comes from the command line)."""
    client = _OracleClient.__new__(_OracleClient)
    client._oracle = unwrap_oracle(oracle)
    client.stub = stub
    client.tuner_id = tuner_id
    client.multi_worker = False
    client.should_report = True
    return client
