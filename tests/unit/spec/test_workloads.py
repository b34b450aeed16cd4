"""The workload kinds at the YAML boundary: `kind` defaults to the unique-key workload and is
left out of the spec dump, so every campaign written before kinds hashes exactly as it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_eval.errors import ConfigError
from chaos_eval.spec.config import load_campaign, parse_campaign
from chaos_eval.spec.matrix import spec_hash, spec_json
from chaos_eval.spec.workloads import KVWorkloadSpec, RegisterWorkloadSpec

ROOT = Path(__file__).resolve().parents[3]
BASE = {"name": "w", "subjects": ["etcd"], "chaos_types": [{"type": "noop"}]}

# spec hashes of the shipped campaigns as the code before workload kinds computed them
# (chaos-eval at aa96865, before this change); trial keys derive from them.
RECORDED = {
    "campaigns/all-faults.yaml":
        "198f57e52ab9a5f62473fbd9a01ebde7e3098399bc53fc6db0001beb18e154e6",
    "campaigns/etcd-prevote.yaml":
        "524a29e555ca83a0048a9d7fcd21d00f6462e226090cbf562c24ae285668a69c",
    "campaigns/redis.yaml":
        "f7d82df5a90f46d97c37fd62a3cad7493b2c6f307fed28bdcab7d7d388e30749",
    "campaigns/smoke.yaml":
        "2371a0d037969c4b2da7a3242ef725b7a726704ce10f408a5b428e66d6d9af53",
    # TiKV's changed on purpose (issue 11, class 6): its spec now records the data_mb the
    # subject is built with (1024), so a resumed TiKV campaign builds the same subject
    "campaigns/tikv.yaml":
        "a78c7d08d3b5740a65f263d492b90f913a61952d1ef76c4e992f6c36ac08cdfc",
}


@pytest.mark.parametrize("rel", sorted(RECORDED))
def test_old_campaigns_keep_their_spec_hash(rel: str) -> None:
    assert spec_hash(load_campaign(ROOT / rel)) == RECORDED[rel]


def test_default_kind_is_kv_and_not_dumped() -> None:
    cfg = parse_campaign({**BASE, "workload": {"rate_per_s": 5}}, "mem")
    assert isinstance(cfg.workload, KVWorkloadSpec) and cfg.workload.kind == "kv"
    assert '"kind"' not in spec_json(cfg) and '"linearizable"' not in spec_json(cfg)
    explicit = parse_campaign({**BASE, "workload": {"kind": "kv", "rate_per_s": 5}}, "mem")
    assert spec_hash(explicit) == spec_hash(cfg)


def test_register_workload_parses_and_round_trips() -> None:
    doc = {**BASE, "workload": {"kind": "register", "keys": 4, "read": "serializable"},
           "slo": {"linearizable": True}}
    cfg = parse_campaign(doc, "mem")
    assert isinstance(cfg.workload, RegisterWorkloadSpec)
    assert (cfg.workload.keys, cfg.workload.read) == (4, "serializable")
    again = parse_campaign(cfg.model_dump(mode="json"), "mem")
    assert spec_hash(again) == spec_hash(cfg)


@pytest.mark.parametrize(
    ("doc", "key", "needle"),
    [
        ({"workload": {"kind": "queue"}}, "workload", "kind"),
        ({"workload": {"kind": "register", "keys": 0}}, "workload.register.keys",
         "greater than or equal to 1"),
        ({"workload": {"kind": "register", "read": "stale"}}, "workload.register.read",
         "'linearizable'"),
        ({"workload": {"kind": "register", "read_fraction": 0.8, "cas_fraction": 0.5}},
         "workload.register", "at most 1"),
        ({"workload": {"kind": "register", "concurrency": 3}}, "workload.register.concurrency",
         "unknown key"),
        ({"slo": {"linearizable": True}}, "slo.linearizable", "kind: register"),
        ({"chaos_types": [{"type": "noop", "slo": {"linearizable": True}}]},
         "chaos_types[0].slo.linearizable", "kind: register"),
    ],
)
def test_bad_workloads_are_one_clear_error(doc: dict[str, object], key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_campaign({**BASE, **doc}, "mem.yaml")
    assert info.value.key == key, str(info.value)
    assert needle in info.value.reason, str(info.value)
