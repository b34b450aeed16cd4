"""The Workload protocol and the key-value client seam subjects implement.

An operation ends `ok`, `fail` (definitely did not happen) or `unknown` (a timeout or
reset mid-write: it may have happened). Clients never raise for a failed operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eval.outcomes import OpOutcome


class OpKind:
    WRITE = "write"
    READ = "read"
    FINAL_READ = "final_read"


@dataclass(frozen=True)
class Op:
    """One recorded client operation; times are seconds since the trial's epoch."""

    kind: str  # OpKind value
    node: str
    key: str
    start: float
    end: float
    outcome: OpOutcome
    error: str = ""  # short error class for failed/unknown ops ("timeout", "refused", ...)


@dataclass(frozen=True)
class ReadResult:
    outcome: OpOutcome
    value: str | None  # None: key absent (when outcome is ok)
    error: str = ""


class KVClient(Protocol):
    """A client bound to one node. Methods never raise for a failed operation."""

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        """Write key=value. Returns the outcome and a short error class ('' when ok).
        Timeouts and resets after sending are UNKNOWN; refused connections are FAIL."""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        """Read one key (linearizable where the subject offers it)."""

    async def aclose(self) -> None:
        """Release connections. Idempotent."""


class Workload(Protocol):
    """Client traffic run during a trial, recorded op by op."""

    async def run(self) -> None:
        """Issue operations at the configured rate until `stop()`; record every op.
        Must not raise for failed operations; cancellation stops it promptly."""

    def stop(self) -> None:
        """Ask `run` to finish after in-flight operations. Idempotent."""

    async def final_read(self) -> None:
        """Read back every acknowledged (and unknown) write for durability checks."""

    def ops(self) -> tuple[Op, ...]:
        """Every operation recorded so far, in completion order."""
