"""autoorder: AutoML search for photo-set classifiers that use the upload order of each photo."""

__version__ = "0.1.0"

from autoorder.errors import AutoOrderError  # noqa: E402

__all__ = ["AutoOrderError", "__version__"]
