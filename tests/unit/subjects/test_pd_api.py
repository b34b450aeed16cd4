"""subjects/tikv/pd_api.py against JSON shaped exactly like PD v7's answers (pkg/response,
server/api), and the judgement of a PD + TiKV cluster built on them."""

from __future__ import annotations

import json

import pytest

from chaos_eval.subjects.tikv import pd_api
from chaos_eval.subjects.tikv.pd_api import MemberHealth, PdParseError, Region, Store

HEALTH = json.dumps([
    {"name": "pd1", "member_id": 3474484975246189105,
     "client_urls": ["http://pd1:2379"], "health": True},
    {"name": "pd2", "member_id": 8103855396263399428,
     "client_urls": ["http://pd2:2379"], "health": True},
    {"name": "pd3", "member_id": 13203245541591937474,
     "client_urls": ["http://pd3:2379"], "health": False},
])
LEADER = json.dumps({
    "name": "pd2", "member_id": 8103855396263399428,
    "peer_urls": ["http://pd2:2380"], "client_urls": ["http://pd2:2379"],
    "deploy_path": "/", "binary_version": "v7.5.1",
    "git_hash": "7d8e2aa2ac7bd5ab4ac0b3a9b4e3b1d7a8d5e7b3",
})


def _store(sid: int, host: str, state: str, leaders: int, regions: int) -> dict[str, object]:
    return {
        "store": {
            "id": sid, "address": f"{host}:20160", "version": "7.5.1",
            "peer_address": f"{host}:20160", "status_address": f"{host}:20180",
            "git_hash": "a2b5c9e8", "start_timestamp": 1732200000,
            "deploy_path": "/", "last_heartbeat": 1732200123456789000,
            "node_state": 1, "state_name": state,
        },
        "status": {
            "capacity": "1GiB", "available": "900MiB", "used_size": "40MiB",
            "leader_count": leaders, "leader_weight": 1, "leader_score": leaders,
            "leader_size": leaders, "region_count": regions, "region_weight": 1,
            "region_score": 20.5, "region_size": regions,
            "start_ts": "2026-11-21T15:00:00Z", "last_heartbeat_ts": "2026-11-21T15:02:03Z",
            "uptime": "2m3s",
        },
    }


STORES = json.dumps({"count": 3, "stores": [
    _store(5, "tikv3", "Up", 0, 1),
    _store(1, "tikv1", "Up", 1, 1),
    _store(4, "tikv2", "Disconnected", 0, 1),
]})
CHECK_EMPTY = json.dumps({"count": 0, "regions": []})
CHECK_ONE = json.dumps({"count": 1, "regions": [{
    "id": 2, "start_key": "", "end_key": "", "epoch": {"conf_ver": 5, "version": 1},
    "peers": [{"id": 3, "store_id": 1, "role_name": "Voter"},
              {"id": 6, "store_id": 4, "role_name": "Voter"}],
    "leader": {"id": 3, "store_id": 1, "role_name": "Voter"},
    "down_peers": [{"peer": {"id": 6, "store_id": 4, "role_name": "Voter"},
                    "down_seconds": 42}],
    "cpu_usage": 0, "written_bytes": 0, "read_bytes": 0, "written_keys": 0, "read_keys": 0,
    "approximate_size": 1, "approximate_keys": 0, "approximate_kv_size": 0,
    "approximate_columnar_kv_size": 0,
}]})
REGION = json.dumps({
    "id": 2, "start_key": "", "end_key": "", "epoch": {"conf_ver": 5, "version": 1},
    "peers": [{"id": 3, "store_id": 1, "role_name": "Voter"},
              {"id": 7, "store_id": 5, "role_name": "Voter"},
              {"id": 6, "store_id": 4, "role_name": "Voter"}],
    "leader": {"id": 7, "store_id": 5, "role_name": "Voter"},
    "cpu_usage": 0, "written_bytes": 1200, "read_bytes": 0, "written_keys": 20,
    "read_keys": 0, "approximate_size": 1, "approximate_keys": 20,
    "approximate_kv_size": 0, "approximate_columnar_kv_size": 0,
})
CLUSTER_STATUS = json.dumps({"raft_bootstrap_time": "2026-11-21T15:00:05.123Z",
                             "is_initialized": True, "replication_status": ""})


def test_health_and_leader() -> None:
    assert pd_api.parse_health(HEALTH) == (
        MemberHealth("pd1", 3474484975246189105, True),
        MemberHealth("pd2", 8103855396263399428, True),
        MemberHealth("pd3", 13203245541591937474, False),
    )
    assert pd_api.parse_leader(LEADER) == "pd2"
    with pytest.raises(PdParseError):
        pd_api.parse_health(LEADER)  # an object, not the list
    with pytest.raises(PdParseError):
        pd_api.parse_leader("{}")


def test_stores_sorted_by_id_with_state_and_counts() -> None:
    stores = pd_api.parse_stores(STORES)
    assert stores == (
        Store(1, "tikv1:20160", "Up", 1, 1),
        Store(4, "tikv2:20160", "Disconnected", 0, 1),
        Store(5, "tikv3:20160", "Up", 0, 1),
    )
    assert [s.host for s in stores] == ["tikv1", "tikv2", "tikv3"]
    assert pd_api.parse_stores(json.dumps({"count": 0, "stores": None})) == ()
    with pytest.raises(PdParseError):
        pd_api.parse_stores(json.dumps({"count": 1, "stores": [{"store": {"id": "x"}}]}))


def test_region_checks_count_both_shapes() -> None:
    assert pd_api.parse_region_check(CHECK_EMPTY) == 0
    assert pd_api.parse_region_check(CHECK_ONE) == 1
    assert pd_api.parse_region_check("[]") == 0  # before PD 4: a bare list
    assert pd_api.region_check_path("down-peer") == "/pd/api/v1/regions/check/down-peer"


def test_region_by_key_leader_store() -> None:
    assert pd_api.parse_region(REGION) == Region(2, 5, (1, 4, 5))
    leaderless = json.loads(REGION)
    leaderless["leader"] = {"role_name": "Voter"}  # setDefaultIfNil: no id, no store_id
    assert pd_api.parse_region(json.dumps(leaderless)) == Region(2, None, (1, 4, 5))
    assert pd_api.parse_region("null") is None
    assert pd_api.region_by_key_path("chaos-eval/probe") == (
        "/pd/api/v1/region/key/chaos-eval%2Fprobe"
    )


def test_cluster_status_and_replicated() -> None:
    assert pd_api.parse_cluster_initialized(CLUSTER_STATUS) is True
    assert pd_api.parse_cluster_initialized('{"is_initialized": false}') is False
    assert pd_api.parse_replicated('"REPLICATED"') == "REPLICATED"
    with pytest.raises(PdParseError):
        pd_api.parse_replicated("{}")


@pytest.mark.parametrize(
    ("status", "body", "want"),
    [
        (500, '"TiKV cluster not bootstrapped, please start TiKV first"',
         "cluster not bootstrapped yet (no TiKV has registered)"),
        (500, '"[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start '
              'TiKV first"', "cluster not bootstrapped yet (no TiKV has registered)"),
        (500, '{"code": "internal", "msg": "[PD:server:ErrServerNotStarted]server not started"}',
         "http 500: [PD:server:ErrServerNotStarted]server not started"),
        (503, "no leader", "http 503: no leader"),
    ],
)
def test_pd_errors(status: int, body: str, want: str) -> None:
    assert pd_api.pd_error(status, body.encode()) == want


def test_pd_reasons() -> None:
    health = pd_api.parse_health(HEALTH)
    assert pd_api.pd_reasons(health, ("pd1", "pd2", "pd3"), "pd2") == [
        "pd3: PD reports it unhealthy"]
    assert pd_api.pd_reasons(health[:2], ("pd1", "pd2", "pd3"), None) == [
        "pd3: not a PD member", "PD has no leader"]
    assert pd_api.pd_reasons(health, ("pd1", "pd2"), "pd3") == [
        "PD leader pd3 is not one of ours"]


def test_store_reasons() -> None:
    stores = pd_api.parse_stores(STORES)
    assert pd_api.store_reasons(stores, ("tikv1", "tikv2", "tikv3")) == [
        "tikv2: store 4 is Disconnected"]
    assert pd_api.store_reasons(stores[:1], ("tikv1", "tikv2")) == ["tikv2: no store registered"]
    tomb = (*stores, Store(9, "old:20160", "Tombstone"))
    assert pd_api.store_reasons(tomb, ("tikv1", "tikv3")) == ["stores not of this cluster: "
                                                               "['tikv2']"]
    assert pd_api.store_of(stores, 5) == stores[2]
    assert pd_api.store_of(stores, None) is None
