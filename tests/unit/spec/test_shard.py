"""The shard partition: union == expansion, disjoint, balanced per cell within one, stable;
pilot baselines; bad --shard specs."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from chaos_eval.errors import ConfigError
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import BASELINE, PlannedTrial, expand
from chaos_eval.spec.shard import (
    ShardSpec,
    cell_of,
    check_shard_size,
    owned,
    owners,
    parse_shard,
    shard_plan,
)


def planned(**over: Any) -> list[PlannedTrial]:
    d: dict[str, Any] = {
        "name": "s",
        "subjects": ["etcd", {"type": "etcd", "name": "etcd-pv", "params": {"pre_vote": True}}],
        "chaos_types": [
            {"type": "noop", "params": {"label": ["a", "b", "c"]}},
            {"type": "node_kill", "target": "follower"},
        ],
        "trials_per_combination": 3,
        "include_baseline": True,
    }
    d.update(over)
    return [p for p, _ in expand(parse_campaign(d, "mem"))]


CASES = [
    {},
    {"trials_per_combination": 1},
    {"trials_per_combination": 5, "include_baseline": False},
    {"subjects": ["etcd"], "chaos_types": [{"type": "noop"}], "trials_per_combination": 2},
]


@pytest.mark.parametrize(("over", "count"), itertools.product(CASES, [1, 2, 3, 4, 7]))
def test_partition_is_exact_disjoint_and_balanced(over: dict[str, Any], count: int) -> None:
    plan = planned(**over)
    if count > len(plan):
        pytest.skip("more shards than trials is refused (below)")
    shards = [owned(plan, ShardSpec(i, count)) for i in range(1, count + 1)]
    keys = [p.key for s in shards for p in s]
    assert sorted(keys) == sorted(p.key for p in plan)  # union == the expansion
    assert len(keys) == len(set(keys))  # no key twice
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1  # the campaign balanced within one
    for cell in {cell_of(p) for p in plan}:  # every cell spread within one
        per = [sum(cell_of(p) == cell for p in s) for s in shards]
        assert max(per) - min(per) <= 1, (cell, per)


def test_partition_is_deterministic_and_ignores_order() -> None:
    plan = planned()
    assert owners(plan, 3) == owners(list(plan), 3)
    # the order of the trials inside a cell does not matter: each cell is sorted by key
    shuffled = sorted(plan, key=lambda p: (cell_of(p), p.key[::-1]))
    by_cell_first = {cell_of(p): None for p in plan}  # keep the cells' order
    reordered = [p for c in by_cell_first for p in shuffled if cell_of(p) == c]
    assert owners(reordered, 3) == owners(plan, 3)


def test_every_shard_runs_the_baselines_of_its_subjects_first() -> None:
    plan = planned()
    baselines = {p.subject: p.key for p in plan if p.fault == BASELINE}
    own = owners(plan, 4)
    copies = Counter()
    for i in range(1, 5):
        runs = shard_plan(plan, ShardSpec(i, 4))
        subjects = {p.subject for p in runs if p.fault != BASELINE}
        ran_baselines = [p for p in runs if p.fault == BASELINE]
        assert {p.subject for p in ran_baselines} >= subjects  # its pilot gate
        assert runs[: len(ran_baselines)] == ran_baselines  # baselines first
        for p in ran_baselines:
            copies[p.key] += own[p.key] != i
        # nothing else of another shard's
        assert all(own[p.key] == i for p in runs if p.fault != BASELINE)
    assert set(copies) == set(baselines.values())
    assert sum(copies.values()) >= 1  # some shard ran a pilot copy it does not own


def test_no_baseline_no_pilot() -> None:
    plan = planned(include_baseline=False)
    for i in (1, 2):
        assert shard_plan(plan, ShardSpec(i, 2)) == owned(plan, ShardSpec(i, 2))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3/2", "index must be 1..2"),
        ("0/0", "number of shards must be"),
        ("a/b", "is not I/N"),
        ("1/0", "number of shards must be"),
        ("0/3", "index must be 1..3"),
        ("", "is not I/N"),
        ("1/2/3", "is not I/N"),
    ],
)
def test_bad_shard_specs(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_shard(text)


def test_good_shard_spec() -> None:
    assert parse_shard(" 2/4 ") == ShardSpec(2, 4)
    assert str(parse_shard("1/1")) == "1/1"


def test_more_shards_than_trials_is_refused() -> None:
    plan = planned(subjects=["etcd"], chaos_types=[{"type": "noop"}], trials_per_combination=1)
    assert len(plan) == 2
    check_shard_size(plan, ShardSpec(2, 2), "f.yaml")
    with pytest.raises(ConfigError, match="at most 2 shards"):
        check_shard_size(plan, ShardSpec(1, 3), "f.yaml")
