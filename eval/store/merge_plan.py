"""What `merge` takes from each shard, decided before anything is written.

Pure: given the shard sources and the merged campaign's current trials, it says which shard
trial replaces which merged trial, and refuses (StoreError, one line) what must not be
merged: shards of different spec hashes or shard counts, a trial key the shard's spec does
not give it, or a key that already has a different final result (two runs of one shard that
disagree). A final result is never replaced; the same result again is skipped, which is why
merging a shard twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.matrix import BASELINE, expand, recorded_config
from chaos_eval.spec.shard import owners, parse_shard
from chaos_eval.store.shard_source import Row, ShardSource

RESULT = ("status", "recovery_s", "measurements", "proof", "reasons", "error")


@dataclass(frozen=True)
class Take:
    """Copy shard trial `source` (a row of `shard`) over the merged trial of the same key."""

    shard: ShardSource
    source: Row


@dataclass(frozen=True)
class MergePlan:
    takes: list[Take]
    pilots: dict[str, set[int]]  # shard path -> source trial ids that are pilot copies


def check_sources(sources: Sequence[ShardSource]) -> None:
    """One spec hash and one shard count over every source."""
    first = sources[0]
    for s in sources[1:]:
        if s.campaign.spec_hash != first.campaign.spec_hash:
            raise StoreError(
                f"{s.path}: spec hash {s.campaign.spec_hash[:12]} differs from {first.path}'s "
                f"{first.campaign.spec_hash[:12]}: these are shards of different campaigns"
            )
        if parse_shard(s.shard).count != parse_shard(first.shard).count:
            raise StoreError(
                f"{s.path}: shard {s.shard} is not one of {parse_shard(first.shard).count} "
                f"like {first.path}'s {first.shard}: merge shards of one --shard I/N series"
            )


def _final(status: object) -> bool:
    return TrialStatus(str(status)).is_final


def _decide(current: Row, incoming: Row, where: object) -> bool:
    """Should `incoming` replace `current`? Raises on a conflicting final result."""
    if _final(incoming["status"]):
        if not _final(current["status"]):
            return True
        if all(current[f] == incoming[f] for f in RESULT):
            return False
        raise StoreError(
            f"{where}: trial {incoming['key']} ({incoming['subject']} / {incoming['fault']} "
            f"#{incoming['repetition']}) ended {incoming['status']} here but "
            f"{current['status']} in a shard already merged (a different result); "
            "refusing to merge conflicting shards"
        )
    if _final(current["status"]):
        return False
    progressed = (incoming["attempts"], incoming["status"]) != (
        current["attempts"],
        current["status"],
    )
    return progressed and int(incoming["attempts"]) >= int(current["attempts"])


def plan_merge(sources: Sequence[ShardSource], merged: Mapping[str, Row]) -> MergePlan:
    """Decide what each source contributes, given the merged campaign's trials by key."""
    check_sources(sources)
    spec = sources[0].campaign.spec_json
    count = parse_shard(sources[0].shard).count
    planned = [p for p, _ in expand(recorded_config(spec, str(sources[0].path)))]
    faults = {p.key: p.fault for p in planned}
    own = owners(planned, count)
    current: dict[str, Row] = dict(merged)
    takes: list[Take] = []
    pilots: dict[str, set[int]] = {}
    for src in sources:
        index = parse_shard(src.shard).index
        for t in src.trials:
            key = str(t["key"])
            if key not in faults:
                raise StoreError(
                    f"{src.path}: trial key {key} is not in the campaign's expansion; "
                    "the db does not match its recorded spec"
                )
            if own[key] != index:
                if faults[key] != BASELINE:
                    raise StoreError(
                        f"{src.path}: trial {key} belongs to shard {own[key]}/{count}, "
                        f"not to this db's {src.shard}"
                    )
                pilots.setdefault(str(src.path), set()).add(int(t["id"]))
                continue
            base: Row = current.get(key) or _pending(t)
            if _decide(base, t, src.path):
                takes.append(Take(src, t))
                current[key] = t
    return MergePlan(takes, pilots)


def _pending(t: Row) -> Row:
    out: dict[str, Any] = dict(t)
    out.update(status=TrialStatus.PENDING.value, attempts=0)
    return out
