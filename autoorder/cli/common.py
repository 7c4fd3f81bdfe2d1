"""What every command shares: one clean error message, config checked before TensorFlow, TensorFlow started quietly."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from autoorder.core.config import Config, load_config
from autoorder.core.errors import AutoOrderError
from autoorder.data.manifest import check_manifest_path


def echo_err(msg: str) -> None:
    click.echo(msg, err=True)


def debug_mode() -> bool:
    return bool(click.get_current_context().find_root().params.get("debug", False))


def handle_errors(fn: Callable) -> Callable:
    """`AutoOrderError` -> one message and exit 1 (a traceback with --debug); Ctrl-C -> exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AutoOrderError as e:
            if debug_mode():
                raise
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            echo_err("Interrupted. Run the same command again to resume; finished trials are kept.")
            sys.exit(130)

    return wrapper


def start_tensorflow() -> None:
    """Import TensorFlow without its start-up chatter; keep its C++ logging off the terminal."""
    from autoorder.model.quiet import import_tensorflow, silence_native_stderr  # lazy: --help stays fast

    import_tensorflow()
    if not debug_mode():
        silence_native_stderr()


def checked_config(path: Path, overrides: Iterable[str] = ()) -> Config:
    """The config, validated, and its manifest found: both before TensorFlow is imported (fast answers)."""
    cfg = load_config(path, overrides)
    check_manifest_path(cfg.manifest_path())
    return cfg
