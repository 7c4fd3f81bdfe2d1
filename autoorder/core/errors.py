"""One exception hierarchy; the CLI turns it into a clean message and a non-zero exit."""

from __future__ import annotations

import difflib
import reprlib
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


class WriteError(RunError):
    """A file or folder cannot be written (full disk, read-only, no permission, a file in the way)."""

    def __init__(self, message: str, errno: int | None = None, folder: str | None = None):
        super().__init__(message)
        self.errno = errno
        self.folder = folder


def _bounded_repr(limit: int) -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxtuple, r.maxlist, r.maxarray, r.maxdict, r.maxset, r.maxfrozenset, r.maxdeque = 3, 8, 8, 8, 8, 8, 8, 8
    r.maxstring = r.maxlong = r.maxother = limit
    return r


def describe(value: object, limit: int = 80) -> str:
    """Short repr of a received value for messages.

    Bounded while it is built, not cut afterwards: a value with nested aliases from a hostile
    YAML file (or a string of gigabytes) is never rendered whole.
    """
    text = _bounded_repr(limit).repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """' Did you mean X?' for the closest option, or nothing."""
    if not isinstance(word, str) or len(word) > 200:
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
