"""eval.db: the one Store, a facade with verb methods over the parts it composes.

Each part is a small class over the one shared connection (eval/store/connection.py: opening,
migrating, the one serialized writer): campaigns.py, trials.py, ops.py, ledger.py (the fault
ledger), leases.py (the campaign lease) and events.py. `Store` keeps every verb's name and
signature and delegates; the parts, the connection and eval/store/migrations.py are the only
modules with SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, Self

from chaos_eval.outcomes import CampaignStatus, LedgerState, TrialPhase, TrialStatus
from chaos_eval.spec.matrix import PlannedTrial
from chaos_eval.store.access import Access
from chaos_eval.store.campaigns import Campaigns
from chaos_eval.store.connection import Connection
from chaos_eval.store.container_logs import ContainerLogs
from chaos_eval.store.events import Events
from chaos_eval.store.evidence import EvidenceVerbs
from chaos_eval.store.histories import Histories
from chaos_eval.store.leases import Leases
from chaos_eval.store.ledger import Ledger
from chaos_eval.store.merge import MergeResult, merge_shards
from chaos_eval.store.ops import Ops
from chaos_eval.store.records import (
    CampaignRow,
    EventRow,
    LedgerRow,
    TrialRow,
)
from chaos_eval.store.results import TrialResult
from chaos_eval.store.shard_source import ShardSource
from chaos_eval.store.trials import Trials


class Store(EvidenceVerbs):
    """Every verb over eval.db; open one with `await Store.open(path)`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._campaigns = Campaigns(conn)
        self._trials = Trials(conn)
        self._ops = Ops(conn)
        self._ledger = Ledger(conn)
        self._leases = Leases(conn)
        self._events = Events(conn)
        self._histories = Histories(conn)
        self._logs = ContainerLogs(conn)

    # -- the connection -------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, access: Access = Access.CREATE) -> Self:
        """Open eval.db as `access` says (eval/store/access.py: READ never writes; WRITE and
        CREATE migrate). A missing, empty, corrupt or foreign file raises StoreError."""
        return cls(await Connection.open(path, access))

    @property
    def path(self) -> Path:
        return self._conn.path

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def integrity_check(self) -> str:
        return await self._conn.integrity_check()

    # -- campaigns ------------------------------------------------------------------------

    async def create_campaign(
        self,
        *,
        name: str,
        spec_hash: str,
        spec_json: str,
        config_path: str,
        seed: int,
        harness_version: str,
        git_sha: str,
        argv: Sequence[str],
        trials: Iterable[PlannedTrial],
        rerun_of: int | None = None,
        shard: str | None = None,
    ) -> int:
        """A new campaign, `running`, with its planned trials `pending`. `rerun_of`: the
        campaign one of whose trials this one re-runs (it is then never continued by name);
        `shard`: `I/N` when the trials are one shard's."""
        return await self._campaigns.create(
            name=name,
            spec_hash=spec_hash,
            spec_json=spec_json,
            config_path=config_path,
            seed=seed,
            harness_version=harness_version,
            git_sha=git_sha,
            argv=argv,
            trials=trials,
            rerun_of=rerun_of,
            shard=shard,
        )

    async def campaign(self, campaign_id: int) -> CampaignRow:
        return await self._campaigns.get(campaign_id)

    async def campaigns(self) -> list[CampaignRow]:
        return await self._campaigns.all()

    async def latest_campaign(self, name: str, shard: str | None = None) -> CampaignRow | None:
        """The newest campaign of that name (and shard) that a run of its file may continue
        (a rerun of one trial is not one)."""
        return await self._campaigns.latest(name, shard)

    async def set_campaign_status(
        self, campaign_id: int, status: CampaignStatus, reason: str = ""
    ) -> None:
        await self._campaigns.set_status(campaign_id, status, reason)

    async def move_campaign(
        self,
        campaign_id: int,
        to: CampaignStatus,
        *,
        allowed: frozenset[CampaignStatus],
        reason: str = "",
    ) -> CampaignRow:
        """Move the campaign to `to` if its status is one of `allowed`, atomically; returns the
        row as it was before (it moved iff that status is in `allowed`)."""
        return await self._campaigns.move(campaign_id, to, allowed=allowed, reason=reason)

    async def end_campaign_run(
        self, campaign_id: int, status: CampaignStatus, reason: str = ""
    ) -> CampaignStatus:
        """A runner's last word: `status`, unless a hold landed meanwhile (then `held`, unless
        everything finished). Returns what was written."""
        return await self._campaigns.end_run(campaign_id, status, reason)

    # -- lease ----------------------------------------------------------------------------

    async def acquire_lease(
        self, campaign_id: int, *, token: str, pid: int, host: str, stale_after_s: float,
        unless_held: bool = False,
    ) -> CampaignRow | None:
        """Take the campaign's lease. Returns None on success, or the row of the live holder
        (with `unless_held`: or of the campaign, held, whose lease was not taken)."""
        return await self._leases.acquire(campaign_id, token=token, pid=pid, host=host,
                                          stale_after_s=stale_after_s, unless_held=unless_held)

    async def heartbeat(self, campaign_id: int, token: str) -> bool:
        """Refresh the lease; False if someone else took it over."""
        return await self._leases.heartbeat(campaign_id, token)

    async def release_lease(self, campaign_id: int, token: str) -> None:
        await self._leases.release(campaign_id, token)

    # -- trials ---------------------------------------------------------------------------

    async def trials(self, campaign_id: int) -> list[TrialRow]:
        return await self._trials.of_campaign(campaign_id)

    def trial_results(self, campaign_id: int) -> AsyncIterator[list[TrialResult]]:
        """The campaign's trials as analysis reads them (no proof), in run order, streamed a
        chunk at a time."""
        return self._trials.results(campaign_id)

    async def unfinished_trials(self, campaign_id: int) -> list[TrialRow]:
        """The trials a run of the campaign would still run (not final), in run order."""
        return await self._trials.unfinished(campaign_id)

    async def cell_sizes(self, campaign_id: int) -> dict[tuple[str, str, str], int]:
        """(subject, fault, params) -> the campaign's number of trials of that cell."""
        return await self._trials.cell_sizes(campaign_id)

    async def trial_statuses(self, campaign_id: int) -> dict[str, TrialStatus]:
        """key -> status of each trial (resume planning: from an index, nothing else read)."""
        return await self._trials.statuses(campaign_id)

    async def trial_counts(self, campaign_id: int) -> dict[TrialStatus, int]:
        """Trials per status, counted by the database (statuses with none are absent)."""
        return await self._trials.counts(campaign_id)

    async def trial(self, trial_id: int) -> TrialRow:
        return await self._trials.get(trial_id)

    async def add_trial(self, campaign_id: int, planned: PlannedTrial) -> TrialRow:
        """A sampled cell's next trial, added `pending` as it starts (idempotent by key)."""
        return await self._trials.add(campaign_id, planned)

    async def record_trial_started(self, trial_id: int) -> int:
        """Mark the trial running and count the attempt; returns the attempt number."""
        return await self._trials.started(trial_id)

    async def record_phase(self, trial_id: int, phase: TrialPhase, detail: str = "") -> None:
        await self._trials.phase(trial_id, phase, detail)

    async def record_targets(self, trial_id: int, targets: Sequence[str]) -> None:
        await self._trials.targets(trial_id, targets)

    async def record_trial_finished(
        self,
        trial_id: int,
        status: TrialStatus,
        *,
        recovery_s: float | None,
        measurements: dict[str, Any],
        proof: dict[str, Any],
        reasons: Sequence[str],
        error: str = "",
    ) -> None:
        await self._trials.finished(
            trial_id,
            status,
            recovery_s=recovery_s,
            measurements=measurements,
            proof=proof,
            reasons=reasons,
            error=error,
        )

    async def mark_trial_error(self, trial_id: int, error: str) -> None:
        """Turn a trial the harness had to abandon (timeout) into `error`, keeping its record."""
        await self._trials.mark_error(trial_id, error)

    async def mark_running_interrupted(self, campaign_id: int) -> int:
        """Trials left `running` by a dead or stopped runner become `interrupted`."""
        return await self._trials.mark_running_interrupted(campaign_id)

    # -- fault ledger ---------------------------------------------------------------------

    async def record_fault_planned(
        self, trial_id: int, *, kind: str, description: str, targets: Sequence[str], undo: str
    ) -> int:
        """Write-ahead: the ledger row exists before the fault is injected."""
        return await self._ledger.planned(
            trial_id, kind=kind, description=description, targets=targets, undo=undo
        )

    async def close_ledger(self, ledger_id: int, state: LedgerState) -> None:
        await self._ledger.close(ledger_id, state)

    async def open_ledger(self, campaign_id: int | None = None) -> list[LedgerRow]:
        return await self._ledger.open_rows(campaign_id)

    # -- merging shards -------------------------------------------------------------------

    async def merge_shards(
        self, sources: Sequence[ShardSource], argv: Sequence[str]
    ) -> MergeResult:
        """Take shard dbs (read with `load_shard`) into this db's merged campaign."""
        return await merge_shards(self._conn, sources, argv)

    async def trial_ledger(self, trial_id: int) -> list[LedgerRow]:
        """Every ledger row of one trial (any state), in order."""
        return await self._ledger.of_trial(trial_id)

    # -- events ---------------------------------------------------------------------------

    async def event(
        self, campaign_id: int | None, kind: str, detail: str = "", trial_id: int | None = None
    ) -> None:
        await self._events.record(campaign_id, kind, detail, trial_id)

    async def event_once(self, campaign_id: int, kind: str, episode: str, detail: str) -> bool:
        """An event recorded once per episode (detail `<episode> | <detail>`), atomically."""
        return await self._events.record_once(campaign_id, kind, episode, detail)

    async def last_progress(self, campaign_id: int) -> dict[int, float]:
        """trial id -> when it last started or crossed a phase boundary."""
        return await self._events.last_progress(campaign_id)

    async def events(self, campaign_id: int, kind: str | None = None) -> list[EventRow]:
        return await self._events.of_campaign(campaign_id, kind)
