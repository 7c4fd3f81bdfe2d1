"""One exception hierarchy; the CLI turns it into a clean message and a non-zero exit."""

from __future__ import annotations

import difflib
from typing import Iterable


class AutoOrderError(Exception):
    """Base of every error autoorder reports to a user (no traceback unless --debug)."""

    exit_code = 1


class ConfigError(AutoOrderError):
    """A config file, key or value is wrong."""


class DataError(AutoOrderError):
    """A manifest, row or image is wrong."""


class PluginError(AutoOrderError):
    """A backbone or encoding plugin cannot be loaded or does not fit its shape."""


class WeightsError(AutoOrderError):
    """Pretrained weights cannot be found or loaded."""


class RunError(AutoOrderError):
    """A run folder is missing, corrupt, or does not match the command."""


def describe(value: object, limit: int = 80) -> str:
    """Short repr of a received value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' Did you mean X?' for the closest option, or nothing."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
