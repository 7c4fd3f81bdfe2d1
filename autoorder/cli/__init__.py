"""The command line (click). Only this package talks to the terminal.

`main` (the `autoorder` command) lives in `autoorder.cli.main`; `plugins` holds the `plugins`
commands, `format` the text of results, `common` the error handling every command shares.
"""

from autoorder.cli.main import main

__all__ = ["main"]
