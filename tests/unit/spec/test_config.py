"""Campaign config: one clear error naming file, key and reason for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaos_eval.errors import ConfigError
from chaos_eval.spec.config import load_campaign, parse_campaign

GOOD = {
    "name": "smoke",
    "subjects": ["etcd"],
    "chaos_types": [
        {"type": "node_kill", "target": "follower"},
        {"type": "latency", "params": {"delay_ms": [50, 200], "jitter_ms": 5}},
    ],
    "trials_per_combination": 2,
    "parallel": 2,
}


def write(tmp_path: Path, doc: object) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return p


def with_(**changes: object) -> dict[str, object]:
    d = dict(GOOD)
    d.update(changes)
    return d


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = load_campaign(write(tmp_path, GOOD))
    assert cfg.name == "smoke"
    assert cfg.subjects[0].type == "etcd" and cfg.subjects[0].label == "etcd"
    assert [c.type for c in cfg.chaos_types] == ["node_kill", "latency"]
    assert cfg.chaos_types[1].grid() == [
        {"delay_ms": 50, "jitter_ms": 5},
        {"delay_ms": 200, "jitter_ms": 5},
    ]


def test_bundled_campaigns_validate() -> None:
    root = Path(__file__).resolve().parents[3] / "campaigns"
    files = sorted(root.glob("*.yaml"))
    assert files, "campaigns/ must ship at least smoke.yaml"
    for f in files:
        load_campaign(f)


@pytest.mark.parametrize(
    ("doc", "key", "reason"),
    [
        (with_(parallel=0), "parallel", "greater than or equal to 1"),
        (with_(parallel="two"), "parallel", "valid integer"),
        (with_(bogus=1), "bogus", "unknown key"),
        (with_(subjects=[]), "subjects", "at least 1"),
        (with_(subjects=["cassandra"]), "subjects[0].type", "unknown subject type 'cassandra'"),
        (with_(chaos_types=[{"type": "meteor"}]), "chaos_types[0].type", "unknown fault type"),
        (
            with_(chaos_types=[{"type": "latency", "params": {"delay_ms": 0}}]),
            "chaos_types[0].params.delay_ms",
            "greater than or equal to 1",
        ),
        (
            with_(chaos_types=[{"type": "latency", "params": {"delay_ms": [50, 999999]}}]),
            "chaos_types[0].params.delay_ms",
            "less than or equal to 60000",
        ),
        (
            with_(chaos_types=[{"type": "latency", "params": {"delay_ms": 10, "colour": "red"}}]),
            "chaos_types[0].params.colour",
            "unknown key",
        ),
        (
            with_(chaos_types=[{"type": "latency", "params": {"delay_ms": []}}]),
            "chaos_types[0].params.delay_ms",
            "empty list",
        ),
        (
            with_(chaos_types=[{"type": "node_kill", "target": "the-boss!"}]),
            "chaos_types[0].target",
            "target",
        ),
        (
            with_(chaos_types=[{"type": "node_kill", "frequency": 3}]),
            "chaos_types[0].frequency",
            "unknown key",
        ),
        (with_(timing={"fault_duration_s": -1}), "timing.fault_duration_s", "greater than 0"),
        (with_(timing={"warmup": 3}), "timing.warmup", "unknown key"),
        (with_(trials_per_combination=0), "trials_per_combination", "greater than or equal"),
        (with_(name="bad name!"), "name", "must be"),
        (with_(cooldown_seconds=-2), "cooldown_seconds", "greater than or equal to 0"),
        (with_(slo={"max_lost_writes": -1}), "slo.max_lost_writes", "greater than or equal"),
        (with_(chaos_types=[], include_baseline=False), "chaos_types", "zero trials"),
        (with_(subjects=["etcd", "etcd"]), "subjects", "duplicate"),
    ],
)
def test_bad_input_names_file_key_and_reason(
    tmp_path: Path, doc: dict[str, object], key: str, reason: str
) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    e = info.value
    assert e.file == str(path)
    assert e.key == key, str(e)
    assert reason in e.reason, str(e)
    assert str(path) in str(e) and key in str(e)


def test_invalid_yaml_points_at_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nsubjects: [etcd\n")
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    assert "line" in info.value.key and "invalid YAML" in info.value.reason


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_campaign(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        load_campaign(write(tmp_path, "- just\n- a list\n"))


def test_config_is_frozen() -> None:
    cfg = parse_campaign(GOOD, "mem")
    with pytest.raises(Exception, match="frozen"):
        cfg.parallel = 3  # type: ignore[misc]
