"""The `eval` commands for failure bundles: `bundle` writes one trial's evidence to a .tar.gz
(chaos_eval.analysis.bundle), `check` re-runs the linearizability checker on a bundle offline
(no Docker, no database) and prints the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from chaos_eval.cli.boundary import DbOpt, boundary, err, open_store, out, run_async
from chaos_eval.cli.output import write_output
from chaos_eval.errors import BundleError
from chaos_eval.outcomes import ExitCode


def bundle(
    campaign_id: Annotated[int, typer.Argument(help="Campaign id.")],
    key: Annotated[str, typer.Argument(help="Trial key (or a unique prefix of it).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The .tar.gz file to write.")
    ] = Path("bundle.tar.gz"),
    db: DbOpt = Path("eval.db"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file at --output.")
    ] = False,
) -> None:
    """Write a failure bundle of one trial: its register history (JSON lines), fault
    windows and proofs, cluster state before and after, container logs if captured, and
    the command that re-runs it. `check FILE` re-checks the history offline."""
    from chaos_eval.analysis.bundle import Bundle, write_bundle
    from chaos_eval.commands import rerun_command
    from chaos_eval.run.rerun import find_trial

    async def load() -> Bundle:
        async with await open_store(db) as store:
            campaign = await store.campaign(campaign_id)
            t = find_trial(await store.trials(campaign_id), key, f"campaign {campaign_id}")
            spec = json.loads(campaign.spec_json)
            rerun = rerun_command(campaign_id, t.key, db)
            proof = json.loads(t.proof or "{}")
            compose = proof.pop("compose_config", None)
            trial: dict[str, Any] = {
                "campaign": {"id": campaign.id, "uid": campaign.uid, "name": campaign.name,
                             "spec_hash": campaign.spec_hash, "git_sha": campaign.git_sha},
                "key": t.key, "subject": t.subject, "subject_type": t.subject_type,
                "fault": t.fault, "params": t.params_dict, "target": t.target,
                "targets": json.loads(t.targets or "[]"), "repetition": t.repetition,
                "seed": t.seed, "attempt": t.attempts, "status": t.status.value,
                "recovery_s": t.recovery_s, "reasons": t.reasons_list, "error": t.error,
                "measurements": t.measurements_dict, "proof": proof,
                "workload": spec.get("workload", {}), "rerun": rerun,
            }
            return Bundle(
                trial, await store.history(t.id), rerun, await store.container_logs(t.id),
                compose if isinstance(compose, str) else None,
            )

    b = run_async(load)
    with boundary():
        write_output(output, write_bundle(b), marker=None, kind="bundle", force=force, db=db)
    what = "history" if b.history is not None else "no history (unique-key workload)"
    out.print(f"wrote {output}: trial {b.trial['key']} ({b.trial['status']}), {what}, "
              f"{len(b.logs)} container log(s)", markup=False)


def check(
    file: Annotated[Path, typer.Argument(help="A bundle written by `bundle`.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text | json")] = "text",
) -> None:
    """Re-run the linearizability checker on a bundle's history, offline (no Docker, no
    database), and print the verdict. Exit 0 linearizable, 1 not linearizable or undecided
    (the checker's budget ran out), 2 a corrupt or truncated bundle or a malformed history."""
    from chaos_eval.analysis.bundle import check_bundle, read_bundle, recorded_verdict
    from chaos_eval.analysis.linearizability import Verdict

    if fmt not in ("text", "json"):
        err.print(f"[bold red]error:[/] --format: {fmt!r} is not one of text, json")
        raise typer.Exit(ExitCode.BAD_INPUT)
    with boundary():
        try:
            data = file.read_bytes()
        except OSError as e:
            raise BundleError(f"{file}: {e.strerror or e}") from None
        b = read_bundle(data, str(file))
        result = check_bundle(b, str(file))
    recorded = recorded_verdict(b)
    if fmt == "json":
        out.print_json(json.dumps(result.to_json() | {"recorded": recorded}))
    else:
        out.print(f"{result.verdict}: {result.reason}", markup=False)
        out.print(f"({len(result.keys)} key(s), {result.steps} steps, "
                  f"{result.elapsed_s:.3f}s; recorded when the trial ran: {recorded or 'none'})",
                  markup=False)
    if result.verdict is not Verdict.LINEARIZABLE:
        raise typer.Exit(ExitCode.FAILED)
