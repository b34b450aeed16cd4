"""Shards: a deterministic, balanced partition of a campaign's trials over N machines.

`--shard I/N` (1 <= I <= N) runs the trials *owned* by shard I. Ownership is dealt cell by
cell: each cell's trials (a cell: subject x fault entry x grid point; each subject's
baseline is a cell of one) are sorted by key and dealt round-robin over the shards, starting
where the previous cell stopped. So every cell is spread over the shards (its trials per
shard differ by at most one), the whole campaign is balanced within one trial, the union
of the shards is exactly the unsharded expansion, and no key is owned twice. It depends on
the spec alone (never on the machine, the time or N's other shards), so every runner and
`merge` compute the same partition.

The pilot gate in a shard: a shard also runs, first, the baseline of every subject its
owned matrix trials use, even where that baseline is owned by another shard (a *pilot
copy*: same key, same seed). So no shard runs faults on an environment it never checked.
`merge` keeps only the owner's baseline as the trial and records each pilot copy as an
event, so nothing is counted twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from chaos_eval.errors import ConfigError
from chaos_eval.spec.matrix import BASELINE, PlannedTrial

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_SHARDS = 1000


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` of `count`, both 1-based as written: `2/4`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, where: str = "--shard") -> ShardSpec:
    """`I/N` with 1 <= I <= N <= 1000, or ConfigError naming what is wrong."""
    m = _SPEC.match(text)
    if not m:
        raise ConfigError(where, "", f"{text!r} is not I/N (e.g. 1/4: shard 1 of 4)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or count > MAX_SHARDS:
        raise ConfigError(where, "", f"{text!r}: the number of shards must be 1..{MAX_SHARDS}")
    if not 1 <= index <= count:
        raise ConfigError(where, "", f"{text!r}: the shard index must be 1..{count}")
    return ShardSpec(index, count)


def cell_of(p: PlannedTrial) -> tuple[str, str, str, str]:
    """The cell a planned trial belongs to (subject, fault, grid point, target)."""
    return (p.subject, p.fault, p.params, p.target)


def owners(planned: Sequence[PlannedTrial], count: int) -> dict[str, int]:
    """Trial key -> the 1-based shard that owns it, for `count` shards."""
    cells: dict[tuple[str, str, str, str], list[PlannedTrial]] = {}
    for p in planned:  # insertion order: the expansion's order of cells
        cells.setdefault(cell_of(p), []).append(p)
    out: dict[str, int] = {}
    dealt = 0
    for trials in cells.values():
        for p in sorted(trials, key=lambda t: t.key):
            out[p.key] = dealt % count + 1
            dealt += 1
    return out


def owned(planned: Sequence[PlannedTrial], shard: ShardSpec) -> list[PlannedTrial]:
    """The trials shard `shard` owns, in expansion order."""
    own = owners(planned, shard.count)
    return [p for p in planned if own[p.key] == shard.index]


def shard_plan(planned: Sequence[PlannedTrial], shard: ShardSpec) -> list[PlannedTrial]:
    """What shard `shard` runs: its owned trials plus a pilot copy of the baseline of every
    subject its owned matrix trials use, in expansion order (baselines first)."""
    mine = {p.key for p in owned(planned, shard)}
    subjects = {p.subject for p in planned if p.key in mine and p.fault != BASELINE}
    return [p for p in planned if p.key in mine or (p.fault == BASELINE and p.subject in subjects)]


def check_shard_size(planned: Sequence[PlannedTrial], shard: ShardSpec, where: str) -> None:
    """A shard that would own no trial is a mistake in N: refuse it before anything runs."""
    if shard.count > len(planned):
        raise ConfigError(
            where,
            "",
            f"--shard {shard}: the campaign has only {len(planned)} trials, "
            f"so at most {len(planned)} shards",
        )
