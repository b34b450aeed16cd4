from __future__ import annotations

import pytest

from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.spec.targeting import (
    TargetKind,
    TargetSpec,
    majority_size,
    minority_size,
    select_targets,
    validate_target,
)
from chaos_eval.subject import Node


def _node(name: str, role: str = "etcd") -> Node:
    return Node(name=name, role=role, container_id=f"c-{name}", address="10.0.0.1")


ETCD3 = (_node("etcd3"), _node("etcd1"), _node("etcd2"))  # deliberately unsorted
FIVE = tuple(_node(f"n{i}") for i in range(5))
TIKV = (
    _node("pd1", "pd"),
    _node("pd2", "pd"),
    _node("pd3", "pd"),
    _node("tikv1", "tikv"),
    _node("tikv2", "tikv"),
    _node("tikv3", "tikv"),
)


def names(nodes: tuple[Node, ...]) -> list[str]:
    return [n.name for n in nodes]


@pytest.mark.parametrize(
    "spec", ["random", "leader", "follower", "all", "minority", "majority", "etcd1", "a", "tikv-2"]
)
def test_valid_specs(spec: str) -> None:
    assert validate_target(spec) is None


@pytest.mark.parametrize("spec", ["", "Leader", "-x", "x y", "a" * 64, "etcd1;rm", "é"])
def test_invalid_specs_name_the_choices(spec: str) -> None:
    reason = validate_target(spec)
    assert reason is not None
    assert "minority" in reason and repr(spec) in reason
    with pytest.raises(ParameterError):
        TargetSpec.parse(spec)


def test_parse() -> None:
    assert TargetSpec.parse("leader") == TargetSpec(TargetKind.LEADER)
    assert TargetSpec.parse("etcd2") == TargetSpec(TargetKind.NODE, "etcd2")
    assert str(TargetSpec.parse("etcd2")) == "etcd2"
    assert str(TargetSpec.parse("all")) == "all"


@pytest.mark.parametrize(
    ("n", "minority", "majority"),
    [(1, 1, 1), (2, 1, 2), (3, 1, 2), (4, 1, 3), (5, 2, 3), (7, 3, 4)],
)
def test_sizes(n: int, minority: int, majority: int) -> None:
    assert minority_size(n) == minority
    assert majority_size(n) == majority


def test_all_and_named() -> None:
    assert names(select_targets("all", ETCD3, 1, None, None)) == ["etcd1", "etcd2", "etcd3"]
    assert names(select_targets("etcd2", ETCD3, 1, None, None)) == ["etcd2"]
    with pytest.raises(FaultError, match="no such node"):
        select_targets("etcd9", ETCD3, 1, None, None)


def test_group_sizes() -> None:
    assert len(select_targets("minority", ETCD3, 7, None, None)) == 1
    assert len(select_targets("majority", ETCD3, 7, None, None)) == 2
    assert len(select_targets("minority", FIVE, 7, None, None)) == 2
    assert len(select_targets("majority", FIVE, 7, None, None)) == 3
    assert len(select_targets("random", FIVE, 7, None, None)) == 1


@pytest.mark.parametrize("spec", ["random", "minority", "majority", "follower"])
def test_deterministic_for_a_seed_and_independent_of_input_order(spec: str) -> None:
    first = select_targets(spec, FIVE, 42, "n0", None)
    for _ in range(5):
        assert select_targets(spec, FIVE, 42, "n0", None) == first
    assert select_targets(spec, tuple(reversed(FIVE)), 42, "n0", None) == first
    assert names(first) == sorted(names(first))


@pytest.mark.parametrize("spec", ["random", "minority", "majority", "follower"])
def test_seeds_spread_the_choice(spec: str) -> None:
    seen = {tuple(names(select_targets(spec, FIVE, seed, "n0", None))) for seed in range(50)}
    assert len(seen) > 1


def test_leader_and_follower() -> None:
    assert names(select_targets("leader", ETCD3, 1, "etcd3", None)) == ["etcd3"]
    for seed in range(20):
        (f,) = select_targets("follower", ETCD3, seed, "etcd3", None)
        assert f.name != "etcd3"
    for spec in ("leader", "follower"):
        with pytest.raises(FaultError, match="needs the current leader"):
            select_targets(spec, ETCD3, 1, None, None)
    with pytest.raises(FaultError, match="not among"):
        select_targets("leader", ETCD3, 1, "etcd9", None)
    with pytest.raises(FaultError, match="only node"):
        select_targets("follower", (_node("solo"),), 1, "solo", None)


def test_role_filters_first() -> None:
    assert names(select_targets("all", TIKV, 1, None, "tikv")) == ["tikv1", "tikv2", "tikv3"]
    for seed in range(20):
        (n,) = select_targets("random", TIKV, seed, None, "pd")
        assert n.role == "pd"
    assert names(select_targets("leader", TIKV, 1, "pd2", "pd")) == ["pd2"]
    with pytest.raises(FaultError, match="not among"):
        select_targets("leader", TIKV, 1, "pd2", "tikv")
    with pytest.raises(FaultError, match="no nodes with role 'sentinel'"):
        select_targets("all", TIKV, 1, None, "sentinel")
    with pytest.raises(FaultError, match="no such node"):
        select_targets("pd1", TIKV, 1, None, "tikv")


def test_invalid_spec_raises_parameter_error() -> None:
    with pytest.raises(ParameterError):
        select_targets("Everything", ETCD3, 1, None, None)
