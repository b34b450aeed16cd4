"""The seed plan's vocabulary: network_partition, a min_ms/max_ms latency range,
fill_percent; recorded in the harness's own words."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_eval.errors import ConfigError
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand, spec_hash
from chaos_eval.spec.vocabulary import latency_range

SEED_PLAN = Path(__file__).resolve().parents[3] / "campaigns" / "seed-plan.yaml"


def doc(*chaos: dict[str, object]) -> dict[str, object]:
    return {"name": "x", "subjects": ["etcd"], "chaos_types": list(chaos)}


def test_network_partition_is_partition() -> None:
    a = parse_campaign(doc({"type": "network_partition"}), "f")
    b = parse_campaign(doc({"type": "partition"}), "f")
    assert a.chaos_types[0].type == "partition"
    assert spec_hash(a) == spec_hash(b)  # the same campaign, the same trial keys


def test_latency_range_maps_to_a_uniform_delay_and_jitter() -> None:
    cfg = parse_campaign(doc({"type": "latency", "params": {"min_ms": 50, "max_ms": 150}}), "f")
    assert cfg.chaos_types[0].params == {"delay_ms": 100, "jitter_ms": 50}
    ours = {"delay_ms": 100, "jitter_ms": 50}
    same = parse_campaign(doc({"type": "latency", "params": ours}), "f")
    assert spec_hash(cfg) == spec_hash(same)
    assert latency_range({"min_ms": 80, "max_ms": 80, "backend": "netem"}) == {
        "backend": "netem", "delay_ms": 80, "jitter_ms": 0,
    }


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"min_ms": 50}, "needs both"),
        ({"min_ms": 50, "max_ms": 151}, "must be even"),
        ({"min_ms": 150, "max_ms": 50}, "min_ms <= max_ms"),
        ({"min_ms": [50, 60], "max_ms": 150}, "one whole number"),
        ({"min_ms": 50, "max_ms": 150, "delay_ms": 100}, "not both"),
        ({"min_ms": 50, "max_ms": 150, "distribution": "normal"}, "uniformly"),
    ],
)
def test_bad_latency_ranges_are_one_clear_line(params: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_campaign(doc({"type": "latency", "params": params}), "c.yaml")
    assert needle in str(e.value) and "chaos_types[0]" in str(e.value)


def test_the_seed_plan_example_validates_in_our_words() -> None:
    from chaos_eval.spec.config import load_campaign

    cfg = load_campaign(SEED_PLAN)
    kinds = {c.type: c.params for c in cfg.chaos_types}
    assert kinds == {
        "partition": {},
        "latency": {"delay_ms": 100, "jitter_ms": 50},
        "disk_pressure": {"fill_percent": 80},
    }
    assert len(expand(cfg)) == 4


def test_an_unknown_fault_names_the_aliases_too() -> None:
    with pytest.raises(ConfigError) as e:
        parse_campaign(doc({"type": "meteor"}), "c.yaml")
    assert "network_partition" in str(e.value)
