"""What every `eval` command shares: the two consoles, the common options, and the error
boundary that turns a ChaosEvalError into one clear line and a documented exit code
(chaos_eval.outcomes.ExitCode). `run_async` is the only place that calls asyncio.run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from chaos_eval.errors import (
    CampaignNotFound,
    CampaignStateError,
    ChaosEvalError,
    ConfigError,
    LeaseHeldError,
    StoreError,
    TrialNotFound,
)
from chaos_eval.outcomes import ExitCode

if TYPE_CHECKING:
    from chaos_eval.store.store import Store

T = TypeVar("T")

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
        e, ConfigError | StoreError | CampaignNotFound | TrialNotFound | CampaignStateError
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


async def open_store(db: Path, *, create: bool = False) -> Store:
    from chaos_eval.store.store import Store

    return await Store.open(db, create=create)


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
