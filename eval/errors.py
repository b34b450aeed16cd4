"""The one exception tree of chaos-eval.

    ChaosEvalError                 base; carries a user-facing message
    ├── ConfigError                bad campaign file: file, key path, reason      -> exit 2
    ├── StoreError                 eval.db unreadable, corrupt, foreign, or misuse -> exit 2
    │   ├── StoreCorrupt           a row that does not fit its record (table, row) -> exit 2
    │   └── LeaseHeldError         another live runner holds the campaign         -> exit 4
    ├── OutputError                an output file cannot or must not be written  -> exit 2
    ├── CampaignNotFound           no campaign with that id                       -> exit 2
    ├── CampaignStateError         hold/close/resume not possible in that status  -> exit 2
    ├── TrialNotFound              no (or more than one) trial with that key      -> exit 2
    ├── BundleError                a failure bundle is corrupt, truncated or unsafe -> exit 2
    │   └── HistoryError           a history line (JSON lines) is malformed        -> exit 2
    ├── ImageError                 an image is missing or cannot be built         -> exit 3
    ├── HarnessError               Docker / Compose / helper failure              -> trial `error`
    │   ├── StoreWriteFailed       eval.db cannot take a write (disk full, I/O)   -> exit 3
    │   ├── DockerError            the engine API refused or failed
    │   │   └── EngineUnreachable  the engine did not answer at all (daemon down/restarting)
    │   └── ComposeError           `docker compose` exited non-zero
    ├── FaultError                 a fault could not be injected or verified      -> trial `error`
    │   └── CleanupError           a fault could not be proven removed -> trial `cleanup_failed`
    └── ParameterError             a value would reach tc/iptables/docker unvalidated

Foreign exceptions (docker-py, aiosqlite, httpx, pydantic, yaml) are translated at the
module that talks to them; nothing above that boundary sees them.
"""

from __future__ import annotations

from collections.abc import Sequence


class ChaosEvalError(Exception):
    """Base of every error chaos-eval raises on purpose."""


class ConfigError(ChaosEvalError):
    """Every problem of one file: the first as (key, reason), the rest in `more`; the message
    is one line per problem, each naming the file and the key."""

    def __init__(
        self, file: str, key: str, reason: str, more: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.file, self.key, self.reason = file, key, reason
        self.problems: tuple[tuple[str, str], ...] = ((key, reason), *more)
        super().__init__(
            "\n".join(f"{file}: {k}: {r}" if k else f"{file}: {r}" for k, r in self.problems)
        )

    @classmethod
    def of(cls, file: str, problems: Sequence[tuple[str, str]]) -> ConfigError:
        """One error carrying every (key, reason) of `problems` (at least one)."""
        (key, reason), *more = problems
        return cls(file, key, reason, more)


class StoreError(ChaosEvalError):
    pass


class StoreCorrupt(StoreError):
    """A row read from eval.db does not fit its record: which table, which row, what."""


class OutputError(ChaosEvalError):
    """An output file (a report, JUnit XML) cannot or must not be written there."""


class LeaseHeldError(StoreError):
    pass


class CampaignNotFound(ChaosEvalError):
    pass


class TrialNotFound(ChaosEvalError):
    pass


class BundleError(ChaosEvalError):
    pass


class HistoryError(BundleError):
    """A line of a register history (chaos_eval.history's JSON-lines format) is malformed."""


class CampaignStateError(ChaosEvalError):
    """The campaign's status does not allow what was asked (holding a finished campaign,
    closing it twice, resuming a closed one)."""


class ImageError(ChaosEvalError):
    pass


class HarnessError(ChaosEvalError):
    pass


class StoreWriteFailed(HarnessError):
    """eval.db could not take a write (its filesystem is full, an I/O error): the machine's
    problem, not the input's. What was committed before stays intact."""


class DockerError(HarnessError):
    pass


class EngineUnreachable(DockerError):
    """The Docker engine could not be reached at all (its daemon stopped or is restarting),
    as opposed to an engine that answered with an error."""


class ComposeError(HarnessError):
    pass


class FaultError(ChaosEvalError):
    pass


class CleanupError(FaultError):
    pass


class ParameterError(ChaosEvalError):
    pass
