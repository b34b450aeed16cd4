"""The `eval` commands of a nightly matrix: merge (shard dbs into one campaign) and trend
(per cell, over the last nights' merged dbs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chaos_eval.cli.boundary import check_format, err, open_store, out, run_async
from chaos_eval.errors import StoreError
from chaos_eval.outcomes import ExitCode
from chaos_eval.store.access import Access

if TYPE_CHECKING:
    from chaos_eval.analysis.trend import Night
    from chaos_eval.store.merge import MergeResult


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def merge(
    shards: Annotated[list[Path], typer.Argument(help="Shard dbs (`run campaign --shard`).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The merged db (created, or merged into).")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
) -> None:
    """Merge shard dbs into one campaign in OUTPUT: every shard's trials, ops, fault ledger and
    events, with the shard and host that ran each trial. Shards are opened read-only. Refuses
    (exit 2) shards of different spec hashes or schema versions and a trial key with two
    different results; merging the same shard again adds nothing."""
    from chaos_eval.store.shard_source import load_shard

    check_format(fmt, ("table", "json"))
    if any(_same_file(s, output) for s in shards if s.exists()):
        err.print(f"[bold red]error:[/] {output}: the output is also a shard input")
        raise typer.Exit(ExitCode.BAD_INPUT)
    existed = output.exists()

    async def go() -> MergeResult:
        sources = [await load_shard(s) for s in shards]  # every refusal of an input first
        async with await open_store(output, Access.CREATE) as store:
            return await store.merge_shards(sources, sys.argv)

    try:
        result = run_async(go)
    except typer.Exit:
        if not existed:  # a refusal leaves no new file behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{output}{suffix}").unlink(missing_ok=True)
        raise
    summary = {
        "campaign_id": result.campaign_id,
        "created": result.created,
        "shards": len(shards),
        "trials_taken": result.taken,
        "status": result.status.value,
        "unfinished": result.unfinished,
        "db": str(output),
    }
    if fmt == "json":
        out.print_json(json.dumps(summary))
        return
    verb = "created" if result.created else "merged into"
    out.print(
        f"{verb} campaign {result.campaign_id} in {output}: {len(shards)} shard db(s), "
        f"{result.taken} trial(s) taken, status {result.status.value}, "
        f"{result.unfinished} trial(s) unfinished",
        markup=False,
    )


def night_labels(dbs: list[Path]) -> list[str]:
    """Each night's name: its file's stem, or folder/stem where stems repeat (night.db)."""
    stems = [db.stem for db in dbs]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{db.parent.name}/{db.stem}" for db in dbs]


async def _nights(dbs: list[Path]) -> list[Night]:
    from chaos_eval.analysis.trend import Night

    nights = []
    for db, label in zip(dbs, night_labels(dbs), strict=True):
        async with await open_store(db) as store:
            runs = [c for c in await store.campaigns() if c.rerun_of is None]
            if not runs:
                raise StoreError(f"{db}: holds no campaign")
            nights.append(Night(label, runs[-1], await store.trials(runs[-1].id)))
    return nights


def trend(
    dbs: Annotated[list[Path], typer.Argument(help="The nights' merged dbs, oldest first.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json | markdown")] = "table",
    min_runs: Annotated[
        int, typer.Option("--min-runs", min=1, help="Runs a cell needs before it can be flaky.")
    ] = 20,
    flaky_rate: Annotated[
        float,
        typer.Option("--flaky-rate", min=0.0, max=1.0, help="Failure share that makes it flaky."),
    ] = 0.10,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if a cell is flaky or newly failing.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the trend with charts as one HTML file."),
    ] = None,
) -> None:
    """Per cell over the nights given (each db's newest campaign): pass rate and recovery
    median per night, flaky cells, and new failures since the previous night."""
    from chaos_eval.analysis.trend import trend as do_trend
    from chaos_eval.render.trend import render_trend

    check_format(fmt, ("table", "json", "markdown"))
    for db in dbs:
        if not db.is_file():
            err.print(f"[bold red]error:[/] {db}: no such database")
            raise typer.Exit(ExitCode.BAD_INPUT)
    result: Any = do_trend(run_async(lambda: _nights(dbs)), min_runs=min_runs,
                           flaky_rate=flaky_rate)  # fmt: skip
    render_trend(result, fmt, out)
    if html is not None:
        import datetime

        from chaos_eval.render.trend_html import trend_html

        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        try:
            html.write_text(trend_html(result, now), encoding="utf-8")
        except OSError as e:
            err.print(f"[bold red]error:[/] {html}: {e.strerror or e}")
            raise typer.Exit(ExitCode.BAD_INPUT) from None
    if check and (result.flaky or result.new_failures):
        raise typer.Exit(ExitCode.FAILED)
