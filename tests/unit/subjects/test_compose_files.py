"""The subjects' compose files, as Compose itself resolves them (`config`: no engine, no
images needed): labels on everything, ports only on 127.0.0.1, bounded tmpfs data volumes,
no engine healthchecks, and the flags each subject's fault behaviour depends on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_eval.engine.compose import compose_base, compose_dir

LABELS = ("chaos-eval.campaign", "chaos-eval.trial", "chaos-eval.role")
ENV = {
    "CHAOS_EVAL_CAMPAIGN": "c1",
    "CHAOS_EVAL_TRIAL": "t1",
    "CHAOS_EVAL_TOKEN": "ce-token",
    "CHAOS_EVAL_DATA_MB": "300",
    "CHAOS_EVAL_IMAGE_REDIS": "chaos-eval/redis:local",
}


def resolved(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`compose -f compose/<name>.yml config`, parsed."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    file = compose_dir() / f"{name}.yml"
    done = subprocess.run(
        [*compose_base(), "-p", "cecheck", "-f", str(file), "config"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load(done.stdout)
    assert isinstance(doc, dict)
    return doc


def check_common(doc: dict[str, Any], roles: dict[str, str]) -> None:
    """Every service, network and volume labelled; every port on 127.0.0.1, ephemeral; no
    engine healthcheck left running (the harness judges health itself: an exec every
    interval into every member is CPU that nothing reads)."""
    services = doc["services"]
    assert {s: services[s]["labels"]["chaos-eval.role"] for s in roles} == roles
    for name, svc in services.items():
        check = svc.get("healthcheck", {"disable": True})
        assert check.get("disable") is True or check.get("test") in (["NONE"], "NONE"), name
        for label in LABELS:
            assert svc["labels"][label], (name, label)
        assert svc["labels"]["chaos-eval.trial"] == "t1"
        for port in svc.get("ports", []):
            text = port if isinstance(port, str) else f"{port['host_ip']}::{port['target']}"
            assert text.startswith("127.0.0.1::"), (name, port)
    for net in doc["networks"].values():
        assert net["labels"]["chaos-eval.trial"] == "t1"
    for vol in doc["volumes"].values():
        assert vol["labels"]["chaos-eval.role"] == "data"
        assert vol["driver_opts"]["type"] == "tmpfs"
        assert vol["driver_opts"]["o"] == "size=300m"


def test_redis_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = resolved("redis", ENV, monkeypatch)
    check_common(doc, {
        "redis1": "primary", "redis2": "replica", "redis3": "replica",
        "sentinel1": "sentinel", "sentinel2": "sentinel", "sentinel3": "sentinel",
        "holder": "holder",
    })
    svc = doc["services"]
    for name in ("redis1", "redis2", "redis3"):
        argv = [*svc[name]["entrypoint"], *svc[name]["command"]]
        assert argv[0] == "redis-server"
        flags = dict(zip(argv[1::2], argv[2::2], strict=False))
        assert flags["--requirepass"] == flags["--masterauth"] == "ce-token"
        assert flags["--replica-announce-ip"] == name
        assert flags["--save"] == "" and flags["--appendonly"] == "no"
        assert flags["--repl-diskless-sync-delay"] == "0"
        assert flags.get("--replicaof") == (None if name == "redis1" else "redis1")
        assert svc[name]["volumes"][0].startswith(f"{name}-data:/data")
    for name in ("sentinel1", "sentinel2", "sentinel3"):
        script = svc[name]["entrypoint"][2]
        assert "exec redis-sentinel /data/sentinel.conf" in script
        # `config` may print the $$ escape as written (v1) or resolved (v2)
        assert re.search(r'--sentinel announce-ip "\$\$?\(hostname\)"', script), script
        assert "--requirepass ce-token" in script
        assert any(v.endswith(":/etc/chaos-eval/sentinel.conf:ro") for v in svc[name]["volumes"])
    held = {v.split(":")[0] for v in svc["holder"]["volumes"]}
    assert held == {f"{n}-data" for n in ("redis1", "redis2", "redis3", "sentinel1",
                                           "sentinel2", "sentinel3")}


def test_sentinel_template_monitors_redis1_by_hostname() -> None:
    conf = (compose_dir() / "redis" / "sentinel.conf").read_text()
    lines = [ln for ln in conf.splitlines() if ln and not ln.startswith("#")]
    assert "sentinel resolve-hostnames yes" in lines
    assert "sentinel announce-hostnames yes" in lines
    # resolve-hostnames must come before the monitor line that names a host
    assert lines.index("sentinel resolve-hostnames yes") < lines.index(
        "sentinel monitor mymaster redis1 6379 2")
    assert "sentinel down-after-milliseconds mymaster 1500" in lines


def test_every_compose_file_is_checked() -> None:
    checked = {"etcd", "redis", "tikv"}
    assert {p.stem for p in Path(compose_dir()).glob("*.yml")} <= checked


def test_tikv_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in ENV.items() if k != "CHAOS_EVAL_IMAGE_REDIS"}
    for var in ("CHAOS_EVAL_IMAGE_PD", "CHAOS_EVAL_IMAGE_TIKV", "CHAOS_EVAL_IMAGE_HELPER",
                "CHAOS_EVAL_IMAGE_TIKV_CLIENT"):
        monkeypatch.delenv(var, raising=False)
    doc = resolved("tikv", env, monkeypatch)
    check_common(doc, {"pd1": "pd", "pd2": "pd", "pd3": "pd", "tikv1": "tikv",
                       "tikv2": "tikv", "tikv3": "tikv", "client": "client",
                       "holder": "holder"})
    svc = doc["services"]
    cluster = "pd1=http://pd1:2380,pd2=http://pd2:2380,pd3=http://pd3:2380"
    for name in ("pd1", "pd2", "pd3"):
        assert svc[name]["image"] == "pingcap/pd:v7.5.1"  # pinned default, never latest
        flags = dict(f.split("=", 1) for f in svc[name]["command"])
        assert flags["--advertise-client-urls"] == f"http://{name}:2379"
        assert flags["--advertise-peer-urls"] == f"http://{name}:2380"
        assert flags["--initial-cluster"] == cluster
        assert flags["--config"] == "/etc/chaos-eval/pd.toml"
        assert [str(p) for p in svc[name]["ports"]] in (
            ["127.0.0.1::2379/tcp"], ["127.0.0.1::2379"])
    for name in ("tikv1", "tikv2", "tikv3"):
        assert svc[name]["image"] == "pingcap/tikv:v7.5.1"
        flags = dict(f.split("=", 1) for f in svc[name]["command"])
        assert flags["--advertise-addr"] == f"{name}:20160"
        assert flags["--advertise-status-addr"] == f"{name}:20180"
        assert flags["--status-addr"] == "0.0.0.0:20180"
        assert flags["--pd"] == "pd1:2379,pd2:2379,pd3:2379"
        assert flags["--config"] == "/etc/chaos-eval/tikv.toml"
        assert svc[name]["ulimits"]["nofile"]["soft"] >= 1048576
        assert any(v.endswith(":/etc/chaos-eval/tikv.toml:ro") for v in svc[name]["volumes"])
    assert svc["holder"]["image"] == "chaos-eval/helper:local"


def test_tikv_config_files() -> None:
    import tomllib

    tikv = tomllib.loads((compose_dir() / "tikv" / "tikv.toml").read_text())
    assert tikv["raftstore"]["hibernate-regions"] is False
    assert tikv["storage"]["reserve-space"] == "32MB"
    assert tikv["storage"]["block-cache"]["capacity"] == "128MB"
    pd = tomllib.loads((compose_dir() / "tikv" / "pd.toml").read_text())
    assert pd["schedule"]["max-store-down-time"] == "30s"
    assert pd["replication"]["max-replicas"] == 3


def test_tikv_client_gateway_sits_on_the_cluster_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The raw-KV client must dial what PD advertises (pdN, tikvN), which resolves only on
    the cluster network: the gateway is on it, publishes only its HTTP port on 127.0.0.1,
    and gets no capability and no data."""
    env = {k: v for k, v in ENV.items() if k != "CHAOS_EVAL_IMAGE_REDIS"}
    monkeypatch.delenv("CHAOS_EVAL_IMAGE_TIKV_CLIENT", raising=False)
    gw = resolved("tikv", env, monkeypatch)["services"]["client"]
    assert gw["image"] == "chaos-eval/tikv-client:local"
    assert list(gw["networks"]) == ["cluster"]
    assert [str(p) for p in gw["ports"]] in (["127.0.0.1::8080/tcp"], ["127.0.0.1::8080"])
    flags = dict(f.split("=", 1) for f in gw["command"][1:])
    assert gw["command"][0] == "/usr/local/bin/chaos-eval-tikv-gateway"
    assert flags == {"--listen": "0.0.0.0:8080", "--pd": "pd1:2379,pd2:2379,pd3:2379"}
    assert not {"cap_add", "privileged", "volumes"} & set(gw)


@pytest.mark.parametrize(("pre_vote", "want"), [(None, "false"), ("true", "true")])
def test_etcd_compose_and_its_pre_vote_switch(monkeypatch: pytest.MonkeyPatch,
                                              pre_vote: str | None, want: str) -> None:
    env = {**{k: v for k, v in ENV.items() if k != "CHAOS_EVAL_IMAGE_REDIS"},
           "CHAOS_EVAL_IMAGE_ETCD": "chaos-eval/etcd:local"}
    if pre_vote is None:
        monkeypatch.delenv("CHAOS_EVAL_ETCD_PRE_VOTE", raising=False)
    else:
        env["CHAOS_EVAL_ETCD_PRE_VOTE"] = pre_vote
    doc = resolved("etcd", env, monkeypatch)
    check_common(doc, {"etcd1": "etcd", "etcd2": "etcd", "etcd3": "etcd", "holder": "holder"})
    for name in ("etcd1", "etcd2", "etcd3"):
        flags = dict(f.split("=", 1) for f in doc["services"][name]["command"] if "=" in f)
        assert flags["--pre-vote"] == want
        assert flags["--election-timeout"] == "1000"
        assert flags["--initial-cluster-token"] == "ce-token"
