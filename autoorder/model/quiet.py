"""Import TensorFlow without its start-up chatter on the terminal.

TensorFlow 2.21 writes absl/oneDNN/CUDA notices straight to file descriptor 2 while importing,
before TF_CPP_MIN_LOG_LEVEL is read; a user of the CLI needs none of them. Errors during the
import still surface as Python exceptions.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_silenced():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured stderr (tests): nothing to silence
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> None:
    """Import tensorflow, keras and keras_tuner once, quietly."""
    if "keras_tuner" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with _stderr_silenced():
            import tensorflow  # noqa: F401  lazy: the point of this function (a quiet first import)
            import keras  # noqa: F401  lazy: after the backend variable is set above
            import keras_tuner  # noqa: F401  lazy: prints its own notices on import
    import tensorflow  # lazy: already imported above; bound here for its logger

    # Retracing notices ("5 out of the last 7 calls ...") are expected: every trial is a new model.
    tensorflow.get_logger().setLevel("ERROR")


def silence_native_stderr() -> None:
    """Send file descriptor 2 (TensorFlow's C++ logging) to /dev/null for the rest of the process.

    Python's own `sys.stderr` keeps writing to the terminal through a duplicate of the original
    descriptor, so progress lines and error messages are unaffected. TensorFlow loads some of
    its libraries lazily, mid-search, and each load repeats its start-up notices. CLI only;
    `--debug` keeps everything.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture it)
        return
    sys.stderr.flush()
    python_side = os.fdopen(os.dup(fd), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    sys.stderr = python_side
