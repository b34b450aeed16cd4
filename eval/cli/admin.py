"""The `eval` commands that look after a machine and a database: status (read-only), gc (it
writes, except with --dry-run), images build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chaos_eval.cli.boundary import (
    DbOpt,
    check_format,
    err,
    open_store,
    out,
    parse_duration,
    run_async,
)
from chaos_eval.outcomes import ExitCode
from chaos_eval.store.access import Access


def status(
    campaign_id: Annotated[int | None, typer.Argument(help="One campaign (default: all).")] = None,
    db: DbOpt = Path("eval.db"),
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table | json | prometheus (textfile collector)")
    ] = "table",
    held_window: Annotated[
        str,
        typer.Option(
            "--held-window",
            help="Flag a campaign held longer than this (e.g. 90m, 24h, 2d; plain = seconds).",
        ),
    ] = "24h",
) -> None:
    """Every campaign with progress, lease holder, heartbeat age and stale/stuck/held flags;
    a running one with its rates, ETA, running trials and drift alarms (read only: it never
    waits for a running campaign's write lock)."""
    from chaos_eval.analysis.status import campaign_status
    from chaos_eval.render.report import render_status

    check_format(fmt, ("table", "json", "prometheus"))
    window = parse_duration(held_window, "--held-window")

    async def load() -> Any:
        async with await open_store(db) as store:
            return await campaign_status(store, campaign_id, held_window_s=window)

    render_status(run_async(load), fmt, out)


# -- schema ---------------------------------------------------------------------------------


def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write it to this file, not stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the campaign format (for editors and check-jsonschema); the
    bundled campaigns point at the copy shipped with the package, campaign.schema.json."""
    from chaos_eval.spec.schema import schema_text

    text = schema_text()
    if output is None:
        out.print(text, end="", markup=False, soft_wrap=True)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        err.print(f"[bold red]error:[/] --output {output}: cannot write: {e.strerror or e}")
        raise typer.Exit(ExitCode.BAD_INPUT) from None


# -- gc -------------------------------------------------------------------------------------


def gc(
    db: DbOpt = Path("eval.db"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, remove nothing.")] = False,
    include_foreign: Annotated[
        bool,
        typer.Option(
            "--include-foreign",
            help="Also remove resources of campaigns not in this database.",
        ),
    ] = False,
) -> None:
    """Remove labelled resources of dead campaigns and undo their open fault-ledger rows."""
    from chaos_eval.cleanup.gc import plan_gc, run_gc
    from chaos_eval.engine.client import Docker

    async def go() -> Any:
        async with await open_store(db, Access.READ if dry_run else Access.WRITE) as store:
            docker = Docker()
            items = await plan_gc(store, docker, include_foreign=include_foreign)
            removed = 0 if dry_run else await run_gc(store, docker, items)
            return items, removed

    items, removed = run_async(go)
    for i in items:
        who = f"campaign {i.campaign_id}" if i.campaign_id else f"label {i.campaign_label}"
        r = i.resources
        out.print(
            f"{who}: {len(r.containers)} containers, {len(r.networks)} networks, "
            f"{len(r.volumes)} volumes, {i.open_ledger} open faults: "
            f"{'would ' if dry_run and i.action == 'remove' else ''}{i.action}"
        )
    if not items:
        out.print("nothing to collect")
    elif not dry_run:
        out.print(f"collected {removed} campaign(s)")


# -- images ---------------------------------------------------------------------------------


def images_build(
    names: Annotated[list[str] | None, typer.Argument(help="Recipes (default: all).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if up to date.")] = False,
) -> None:
    """Build images from Debian packages (debootstrap + docker import); no registry needed."""
    from chaos_eval.engine.client import Docker
    from chaos_eval.images.build import ensure_images
    from chaos_eval.images.recipes import RECIPES

    wanted = names or sorted(RECIPES)
    unknown = [n for n in wanted if n not in RECIPES]
    if unknown:
        err.print(
            f"[bold red]error:[/] unknown image recipe(s) {unknown}; known: {sorted(RECIPES)}"
        )
        raise typer.Exit(ExitCode.BAD_INPUT)

    async def build() -> Any:
        return await ensure_images(wanted, Docker(), force=force)

    for r in run_async(build):
        state = f"built in {r.seconds:.0f}s" if r.built else "up to date"
        out.print(f"{r.name:8} {r.ref:28} {r.hash[:12]}  {state}")
