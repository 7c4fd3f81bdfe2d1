"""Every private Keras / Keras Tuner / TensorFlow access of autoorder, behind one seam.

autoorder relies on a few framework internals (named in each module below). They live here and
nowhere else, each with the versions it was checked against, and tests/test_compat.py asserts
every assumption, so an upgrade that changes one fails there with a message that names it
instead of giving a wrong number somewhere else. Patches are installed by an explicit,
idempotent `install()`, never as a side effect of an import.
"""

from __future__ import annotations

# The versions every assumption in this package was checked against (tests/test_compat.py).
CHECKED_VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1", "keras-tuner": "1.4.8"}


def install() -> None:
    """Install autoorder's patches of Keras Tuner (atomic state files, no stray prints). Idempotent."""
    from autoorder.compat import keras_tuner  # lazy: keeps `import autoorder.compat` free of TensorFlow

    keras_tuner.install()
