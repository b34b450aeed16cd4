"""Closed outcome vocabularies and the exit-code table.

Every status the harness stores or reports is one of these StrEnums; the store
keeps their `.value` behind a CHECK constraint built from the same enum.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, StrEnum


class OpOutcome(StrEnum):
    """How one client operation ended."""

    OK = "ok"  # acknowledged
    FAIL = "fail"  # definitely did not happen (refused, rejected)
    UNKNOWN = "unknown"  # timeout or reset mid-write: it may have happened


class TrialStatus(StrEnum):
    """Where a trial is, and how it ended."""

    PENDING = "pending"
    RUNNING = "running"
    INTERRUPTED = "interrupted"  # the runner died or was stopped mid-trial; resume re-runs it
    PASSED = "passed"
    FAILED = "failed"  # the subject missed its SLO or lost data
    ERROR = "error"  # the harness, Docker or the machine broke; never held against the subject
    CLEANUP_FAILED = "cleanup_failed"  # the fault could not be proven gone

    @property
    def is_final(self) -> bool:
        return self in FINAL_TRIAL_STATUSES


FINAL_TRIAL_STATUSES = frozenset(
    {TrialStatus.PASSED, TrialStatus.FAILED, TrialStatus.ERROR, TrialStatus.CLEANUP_FAILED}
)


class CampaignStatus(StrEnum):
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"  # too many consecutive harness errors: the environment is broken
    FINISHED = "finished"
    HELD = "held"  # an operator paused it (`hold`): no new trial starts until `resume`
    CLOSED = "closed"  # an operator ended it (`close --reason`): its unstarted trials never run

    @property
    def is_over(self) -> bool:
        """Nothing more will ever run in it."""
        return self in (CampaignStatus.FINISHED, CampaignStatus.CLOSED)


class LedgerState(StrEnum):
    """A fault ledger row: written before the fault is injected, closed once removal is proven."""

    OPEN = "open"
    CLEANED = "cleaned"
    CLEANUP_FAILED = "cleanup_failed"


class TrialPhase(StrEnum):
    """Phase boundaries of the trial lifecycle, written to the store as they are crossed."""

    STARTED = "started"
    CLUSTER_UP = "cluster_up"
    HEALTHY = "healthy"
    QUEUED = "queued"  # healthy, waiting for its turn (a warm pool's cluster started ahead)
    WARMUP = "warmup"
    FAULT_ACTIVE = "fault_active"
    FAULT_REMOVED = "fault_removed"
    RECOVERY = "recovery"
    MEASURED = "measured"
    TORN_DOWN = "torn_down"


class ExitCode(IntEnum):
    """The one exit-code table (documented in the README)."""

    OK = 0  # everything passed / command succeeded
    FAILED = 1  # some trial failed its SLO, or a --check gate tripped
    BAD_INPUT = 2  # invalid config, arguments, or database file
    HARNESS_ERROR = 3  # harness/Docker errors, aborted campaign, or cleanup_failed trials
    LEASE_HELD = 4  # another live process holds the campaign
    INTERRUPTED = 130  # Ctrl-C / SIGTERM


def campaign_exit_code(status: CampaignStatus, trials: Iterable[TrialStatus]) -> ExitCode:
    """How `run campaign`, `resume` and `rerun` exit once their campaign has stopped:
    interrupted first, then harness trouble (aborted, error, cleanup_failed), then SLO misses."""
    final = set(trials)
    if status == CampaignStatus.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if status == CampaignStatus.HELD:  # an operator's deliberate pause
        return ExitCode.OK
    if status == CampaignStatus.ABORTED or final & {TrialStatus.ERROR, TrialStatus.CLEANUP_FAILED}:
        return ExitCode.HARNESS_ERROR
    if TrialStatus.FAILED in final:
        return ExitCode.FAILED
    return ExitCode.OK
