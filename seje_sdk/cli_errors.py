"""How every seje command line (seje, seje-train, seje-export, seje-bench) reports an error.

Each command line's top click object is a `SejeGroup` (or, for the single-command `seje-export`,
a `SejeCommand`); both route every command through `report_errors`, so a new command cannot
forget it. The message is click's one line, `Error: <message>`, on stderr, never a traceback.

Exit codes:
    0  the command did its work
    1  an internal error (a bug in seje: please report it), or an error class that says 1
       (export's ParityError: the inputs were fine, an exported variant failed its check)
    2  bad usage (click) or bad input: every seje_sdk.errors.SejeError (input, bundle, index,
       data, a backend that cannot run here), as `SejeError.exit_code` says
"""
from __future__ import annotations

from typing import Any

import click

from seje_sdk.errors import SejeError

INTERNAL = 1  # the exit code of an unexpected exception


class Failure(click.ClickException):
    """A failed command as click shows it: `Error: <message>` on stderr, then exit with `exit_code`."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def failure(error: Exception) -> Failure:
    """The one-line message and exit code of an exception raised by a command."""
    if isinstance(error, SejeError):
        return Failure(str(error), error.exit_code)
    return Failure(f"internal error: {type(error).__name__}: {error} (please report it with the command you ran)", INTERNAL)


class _ReportsErrors:
    """Mixin for click commands and groups: any exception but click's own becomes a `Failure`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:
            raise failure(e) from e


class SejeGroup(_ReportsErrors, click.Group):
    """The group class of every seje command line: its commands' errors become one line and an exit code."""


class SejeCommand(_ReportsErrors, click.Command):
    """The same for a command line that is a single command (seje-export)."""
