"""The `chaos-eval` commands that steer a campaign from outside its run: hold, close, logs,
and the background start behind `run campaign --detach` (its log is
`<db>.campaign-<id>.log` next to the db, its pid `<db>.campaign-<id>.pid`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chaos_eval.cli.boundary import DbOpt, err, open_store, out, parse_duration, run_async
from chaos_eval.commands import cli_command
from chaos_eval.outcomes import ExitCode
from chaos_eval.store.access import Access

if TYPE_CHECKING:
    from chaos_eval.spec.shard import ShardSpec
    from chaos_eval.store.records import CampaignRow

FOLLOW_INTERVAL_S = 0.5  # how often `logs -f` looks for new lines
IdArg = Annotated[int, typer.Argument(help="Campaign id (see `chaos-eval status`).")]


def log_path(db: Path, campaign_id: int) -> Path:
    return db.with_name(f"{db.name}.campaign-{campaign_id}.log")


def pid_path(db: Path, campaign_id: int) -> Path:
    return db.with_name(f"{db.name}.campaign-{campaign_id}.pid")


def detach(db: Path, campaign_id: int, skip_images: bool, verbose: bool) -> None:
    """Continue the campaign in a background process (`resume ID`) and say how to watch it."""
    from chaos_eval.engine.process import spawn_detached

    # --unless-held: a `hold` issued before the background run takes its lease is honoured
    # when it does (same transaction), not overwritten by the run starting
    argv = [sys.executable, "-m", "chaos_eval", "resume", str(campaign_id), "--db", str(db),
            "--unless-held"]
    argv += ["--skip-image-build"] * skip_images + ["--verbose"] * verbose
    log = log_path(db, campaign_id)
    try:
        pid = spawn_detached(argv, log)
        pid_path(db, campaign_id).write_text(f"{pid}\n", encoding="utf-8")
    except OSError as e:
        err.print(f"[bold red]error:[/] cannot start the background run: {e}")
        raise typer.Exit(ExitCode.HARNESS_ERROR) from None
    out.print(f"campaign {campaign_id} runs in the background (pid {pid}); log {log}", markup=False)
    steps: tuple[tuple[str, tuple[str | int, ...]], ...] = (
        ("follow", ("logs", campaign_id, "-f")),
        ("progress", ("status", campaign_id)),
        ("hold", ("hold", campaign_id)),
    )
    for what, args in steps:
        out.print(f"  {what}: {cli_command(*args, '--db', db)}", markup=False)


def hold(campaign_id: IdArg, db: DbOpt = Path("eval.db")) -> None:
    """Hold a campaign: running trials finish (faults removed, clusters torn down), no new
    trial starts, it becomes `held`. Continue it with `resume ID`, end it with `close ID`."""
    from chaos_eval.run.control import hold_campaign

    async def go() -> tuple[CampaignRow, bool]:
        async with await open_store(db, Access.WRITE) as store:
            res = await hold_campaign(store, campaign_id)
            return res.campaign, res.live_runner

    row, live = run_async(go)
    if live:
        out.print(
            f"campaign {campaign_id} held: its runner (pid {row.lease_pid} on {row.lease_host}) "
            "finishes its running trials and starts no new one", markup=False,
        )
    else:
        out.print(f"campaign {campaign_id} held (it was {row.status.value})", markup=False)
    out.print(f"  resume: {cli_command('resume', campaign_id, '--db', db)}", markup=False)
    close_cmd = cli_command("close", campaign_id, "--reason", "TEXT", "--db", db)
    out.print(f"  close:  {close_cmd}", markup=False)


def close(
    campaign_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why it ends here (recorded).")],
    db: DbOpt = Path("eval.db"),
) -> None:
    """End a campaign nothing is running (held, interrupted, aborted): it becomes `closed`,
    its unstarted trials never run, its analysis still works. Hold a running one first."""
    from chaos_eval.run.control import close_campaign

    async def go() -> CampaignRow:
        async with await open_store(db, Access.WRITE) as store:
            return await close_campaign(store, campaign_id, reason)

    row = run_async(go)
    out.print(f"campaign {campaign_id} closed (it was {row.status.value}): {reason.strip()}",
              markup=False)
    out.print(f"  its results: {cli_command('analyze', campaign_id, '--db', db)}", markup=False)


def _runner_alive(db: Path, campaign_id: int) -> bool:
    from chaos_eval.store.leases import pid_alive

    try:
        return pid_alive(int(pid_path(db, campaign_id).read_text().strip()))
    except (OSError, ValueError):
        return False


def logs(
    campaign_id: IdArg,
    db: DbOpt = Path("eval.db"),
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")
    ] = False,
) -> None:
    """Show the log of a campaign started with `run campaign --detach` (or follow it)."""
    path = log_path(db, campaign_id)

    async def known() -> CampaignRow:
        async with await open_store(db, Access.WRITE) as store:
            return await store.campaign(campaign_id)

    if not path.is_file():
        run_async(known)  # unknown id / missing db: one line, exit 2
        err.print(f"[bold red]error:[/] campaign {campaign_id} has no log at {path} "
                  "(only runs started with --detach write one)")
        raise typer.Exit(ExitCode.BAD_INPUT)

    async def show() -> None:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            while True:
                chunk = f.read()
                if chunk:
                    out.print(chunk, end="", markup=False, highlight=False)
                if not follow:
                    return
                if not chunk and not _runner_alive(db, campaign_id):
                    rest = f.read()
                    if rest:
                        out.print(rest, end="", markup=False, highlight=False)
                    return
                await asyncio.sleep(FOLLOW_INTERVAL_S)  # the follow interval: a configured wait

    run_async(show)


def resolve_only(config: Path, db: Path, new: bool, part: ShardSpec | None) -> int:
    """The id of the campaign `run campaign FILE` would run (created if need be)."""
    from chaos_eval.run.resolve import resolve_campaign
    from chaos_eval.spec.config import load_campaign

    async def go() -> int:
        cfg = load_campaign(config)  # bad files fail before the db is created
        async with await open_store(db, Access.CREATE) as store:
            res = await resolve_campaign(store, cfg, str(config), sys.argv, new=new, shard=part)
            return res.campaign.id

    return run_async(go)


def watch(
    db: DbOpt = Path("eval.db"),
    held_window: Annotated[
        str, typer.Option("--held-window",
                          help="Flag a campaign held longer than this (90m, 24h, 2d; plain = s).")
    ] = "24h",
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Seconds between passes (default 60).")
    ] = None,
) -> None:
    """Flag held campaigns forgotten past --held-window, once per hold episode (a hold until
    resume or close): records a `held_flagged` event (status shows it) and prints how to
    resume or close each. Writes to the db; runs until interrupted unless --once."""
    import time

    from chaos_eval.render.progress import duration
    from chaos_eval.run.held_watch import watch_held

    window = parse_duration(held_window, "--held-window")
    if once and interval is not None:
        err.print("[bold red]error:[/] --once and --interval: give one (a single pass, or "
                  "passes every --interval seconds)")
        raise typer.Exit(ExitCode.BAD_INPUT)
    every = 60.0 if interval is None else interval
    if not 0 < every <= 86400:
        err.print(f"[bold red]error:[/] --interval: {every:g} is not in (0, 86400] seconds")
        raise typer.Exit(ExitCode.BAD_INPUT)

    async def go() -> None:
        async with await open_store(db, Access.WRITE) as store:
            while True:
                flags = await watch_held(store, window, time.time())
                for f in flags:
                    c, when = f.campaign, time.strftime("%Y-%m-%d %H:%M", time.localtime(
                        f.episode.flagged.at if f.episode.flagged else time.time()))
                    what = "flagged" if f.new else f"flagged already ({when})"
                    out.print(f"campaign {c.id} ({c.name}) held for {duration(f.held_s)}, past "
                              f"{duration(window)}: {what}", markup=False)
                    if f.new:
                        out.print(f"  resume: {cli_command('resume', c.id, '--db', db)}",
                                  markup=False)
                        close_cmd = cli_command("close", c.id, "--reason", "TEXT", "--db", db)
                        out.print(f"  close:  {close_cmd}", markup=False)
                if once:
                    if not flags:
                        out.print(f"no campaign held past {duration(window)}", markup=False)
                    return
                await asyncio.sleep(every)  # the configured --interval between passes

    run_async(go)
