"""What every `eval` command shares: the two consoles, the common options, opening the store
(read-only for commands that only read), and the error boundary that turns a ChaosEvalError
into one clear line and a documented exit code (chaos_eval.outcomes.ExitCode). Every command
runs inside the boundary (`guarded`); anything else that escapes is, as a last resort, one
"internal error" line and exit 3, never a traceback. `run_async` is the only place that
calls asyncio.run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from chaos_eval.errors import (
    BundleError,
    CampaignNotFound,
    CampaignStateError,
    ChaosEvalError,
    ConfigError,
    LeaseHeldError,
    OutputError,
    StoreError,
    TrialNotFound,
)
from chaos_eval.outcomes import ExitCode
from chaos_eval.store.access import Access

if TYPE_CHECKING:
    from chaos_eval.store.store import Store

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOpt = Annotated[Path, typer.Option("--db", help="Path of the SQLite results database.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | csv | markdown")]
SkipImagesOpt = Annotated[
    bool, typer.Option("--skip-image-build", help="Do not build or check images.")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")]


def exit_for(e: ChaosEvalError) -> ExitCode:
    if isinstance(e, LeaseHeldError):
        return ExitCode.LEASE_HELD
    if isinstance(
        e,
        ConfigError
        | StoreError
        | CampaignNotFound
        | TrialNotFound
        | BundleError
        | OutputError
        | CampaignStateError,
    ):
        return ExitCode.BAD_INPUT
    return ExitCode.HARNESS_ERROR


@contextlib.contextmanager
def boundary() -> Iterator[None]:
    """The error boundary: one clear line, a documented exit code, no traceback."""
    try:
        yield
    except ChaosEvalError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(exit_for(e)) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as e:  # the last resort: a bug of ours, said in one line
        log.info("internal error", exc_info=True)  # the traceback, with --verbose
        what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        err.print(
            f"[bold red]error:[/] internal error: {escape(what)}; please report it "
            "(with the command and its --verbose output)"
        )
        raise typer.Exit(ExitCode.HARNESS_ERROR) from None


def guarded(command: Callable[P, T]) -> Callable[P, T]:
    """A command run whole inside the boundary, its lazy imports and option checks included,
    so nothing it raises reaches the user as a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with boundary():
            return command(*args, **kwargs)

    return run


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run inside the error boundary."""
    with boundary():
        return asyncio.run(coro_fn())


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def open_store(db: Path, access: Access = Access.READ) -> Store:
    """eval.db as `access` says: read-only unless the command writes (eval/store/access.py)."""
    from chaos_eval.store.store import Store

    return await Store.open(db, access)


UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, option: str) -> float:
    """'90m', '24h', '2d', '30s' or plain seconds; exit 2 with one line otherwise."""
    t = text.strip().lower()
    unit = UNITS.get(t[-1:]) if t else None
    number = t[:-1] if unit is not None else t
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        err.print(
            f"[bold red]error:[/] {option}: {escape(repr(text))} is not a positive duration "
            "(30s, 90m, 24h, 2d)"
        )
        raise typer.Exit(ExitCode.BAD_INPUT)
    return value


def check_format(fmt: str, allowed: Sequence[str]) -> None:
    if fmt not in allowed:
        err.print(f"[bold red]error:[/] --format: {fmt!r} is not one of {', '.join(allowed)}")
        raise typer.Exit(ExitCode.BAD_INPUT)
