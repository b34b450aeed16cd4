"""The TiKV subject without Docker or images: spec -> images and sizes, the up() preflight's
message, and the workload client's mapping of client-rust errors to outcomes (the client
itself, through a real gateway process: tests/unit/subjects/test_tikv_gateway.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from chaos_eval.errors import ImageError, ParameterError
from chaos_eval.images.recipes import missing_images_message
from chaos_eval.outcomes import OpOutcome
from chaos_eval.spec import registry
from chaos_eval.spec.config import SubjectSpec
from chaos_eval.subject import TrialContext
from chaos_eval.subjects.tikv.client import classify_error
from chaos_eval.subjects.tikv.subject import TikvSubject

CTX = TrialContext(1, "0123456789abcdef0123", seed=1, campaign_uid="u1")


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CHAOS_EVAL_IMAGE_PD", "CHAOS_EVAL_IMAGE_TIKV", "CHAOS_EVAL_IMAGE_HELPER",
                "CHAOS_EVAL_IMAGE_TIKV_CLIENT"):
        monkeypatch.delenv(var, raising=False)


def test_from_spec_images_version_and_data_size() -> None:
    s = TikvSubject.from_spec(SubjectSpec(type="tikv"), CTX, None)  # type: ignore[arg-type]
    assert (s.env["CHAOS_EVAL_IMAGE_PD"], s.env["CHAOS_EVAL_IMAGE_TIKV"]) == (
        "pingcap/pd:v7.5.1", "pingcap/tikv:v7.5.1")
    assert s.env["CHAOS_EVAL_IMAGE_HELPER"] == "chaos-eval/helper:local"
    assert s.env["CHAOS_EVAL_IMAGE_TIKV_CLIENT"] == "chaos-eval/tikv-client:local"
    assert s.env["CHAOS_EVAL_DATA_MB"] == "1024"  # not SubjectSpec's etcd-sized default
    v = TikvSubject.from_spec(
        SubjectSpec(type="tikv", version="7.1.5", data_mb=2048,
                    params={"max_store_down_time_s": 10}), CTX, None)  # type: ignore[arg-type]
    assert v.env["CHAOS_EVAL_IMAGE_TIKV"] == "pingcap/tikv:v7.1.5"
    assert v.env["CHAOS_EVAL_DATA_MB"] == "2048"
    # the spec refuses what the subject would (its SHAPE), so validate catches it too
    with pytest.raises(ValidationError, match="at least 512"):
        SubjectSpec(type="tikv", data_mb=256)
    with pytest.raises(ValidationError, match="version"):
        SubjectSpec(type="tikv", image="x/y:1")
    with pytest.raises(ParameterError, match="version"):  # and the subject still does
        spec = SubjectSpec.model_construct(type="tikv", image="x/y:1", data_mb=1024, params={})
        TikvSubject.from_spec(spec, CTX, None)  # type: ignore[arg-type]


class NoImages:
    async def images_present(self, refs: list[str]) -> dict[str, bool]:
        return {r: r.startswith("chaos-eval/") for r in refs}


def test_up_without_images_names_them_and_how_to_get_them() -> None:
    s = TikvSubject.from_spec(SubjectSpec(type="tikv"), CTX, NoImages())  # type: ignore[arg-type]
    with pytest.raises(ImageError) as e:
        asyncio.run(s.up())
    assert str(e.value) == missing_images_message(["pingcap/pd:v7.5.1", "pingcap/tikv:v7.5.1"])
    assert "docker pull pingcap/pd:v7.5.1" in str(e.value)
    assert "docker load -i images.tar" in str(e.value)


def test_required_images_splits_builds_from_external_refs() -> None:
    specs = [SubjectSpec(type="etcd"), SubjectSpec(type="redis"),
             SubjectSpec(type="tikv", name="t75"),
             SubjectSpec(type="tikv", name="t71", version="7.1.2")]
    build, refs = registry.required_images(specs)
    assert build == ["etcd", "helper", "redis", "tikv-client"]
    assert refs == ["pingcap/pd:v7.1.2", "pingcap/pd:v7.5.1", "pingcap/tikv:v7.1.2",
                    "pingcap/tikv:v7.5.1"]


@pytest.mark.parametrize(
    ("text", "write", "want"),
    [
        ("[src/pd/cluster.rs:189]: PD cluster failed to respond", True,
         (OpOutcome.FAIL, "pd_unavailable")),
        ("Region error: NotLeader { region_id: 2, leader: Some(Peer { id: 7 }) }", True,
         (OpOutcome.FAIL, "not_leader")),
        ("region error: EpochNotMatch", True, (OpOutcome.FAIL, "epoch_not_match")),
        ("KV error: ServerIsBusy", True, (OpOutcome.FAIL, "server_busy")),
        ("disk full", True, (OpOutcome.FAIL, "disk_full")),
        ("grpc error: RpcFailure: 4-DEADLINE_EXCEEDED Deadline Exceeded", True,
         (OpOutcome.UNKNOWN, "timeout")),
        ("grpc error: RpcFailure: 14-UNAVAILABLE failed to connect to all addresses", True,
         (OpOutcome.FAIL, "connect")),
        ("grpc error: RpcFailure: 14-UNAVAILABLE Socket closed", True,
         (OpOutcome.UNKNOWN, "unavailable")),
        ("grpc error: Connection reset by peer (os error 104)", True,
         (OpOutcome.UNKNOWN, "reset")),
        ("something new", True, (OpOutcome.UNKNOWN, "error")),
        ("something new", False, (OpOutcome.FAIL, "error")),
        ("grpc error: Deadline Exceeded", False, (OpOutcome.FAIL, "timeout")),
    ],
)
def test_client_rust_errors_to_outcomes(text: str, write: bool,
                                        want: tuple[OpOutcome, str]) -> None:
    assert classify_error(text, write=write) == want


def test_eval_run_says_which_images_are_missing_and_how_to_get_them(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from chaos_eval.cli.app import app
    from chaos_eval.engine.client import Docker

    async def absent(self: Docker, refs: list[str]) -> dict[str, bool]:
        return {r: False for r in refs}

    monkeypatch.setattr(Docker, "images_present", absent)
    campaign = Path(__file__).resolve().parents[3] / "campaigns" / "tikv.yaml"
    res = CliRunner().invoke(app, ["run", "campaign", str(campaign),
                                   "--db", str(tmp_path / "eval.db")])
    assert res.exit_code == 3, res.output
    text = " ".join(res.output.split())
    assert "missing images: pingcap/pd:v7.5.1, pingcap/tikv:v7.5.1" in text
    assert "docker pull pingcap/pd:v7.5.1; docker pull pingcap/tikv:v7.5.1" in text
    assert "docker load -i images.tar" in text


class OneListing:
    """The project's containers as Docker lists them; counts the listings."""

    def __init__(self, gateway_port: int | None) -> None:
        from chaos_eval.engine.containers import ContainerInfo

        self.calls = 0
        names = [("client", "client"), *[(n, "pd") for n in ("pd1", "pd2", "pd3")],
                 *[(n, "tikv") for n in ("tikv1", "tikv2", "tikv3")], ("holder", "holder")]
        self.infos = [
            ContainerInfo(
                id=f"id-{n}", name=n, status="running", running=True, paused=False,
                exit_code=0, started_at="",
                labels={"com.docker.compose.service": n, "chaos-eval.role": role},
                ports=({8080: gateway_port} if gateway_port else {}) if role == "client"
                else {2379 if role == "pd" else 20180: 40000},
            )
            for n, role in names
        ]

    async def find_containers(self, labels: dict[str, str]) -> tuple[Any, ...]:
        self.calls += 1
        return tuple(self.infos)


@pytest.mark.parametrize(("port", "url"), [(41234, "http://127.0.0.1:41234"), (None, "")])
def test_nodes_and_the_gateway_come_from_one_listing(port: int | None, url: str) -> None:
    docker = OneListing(port)
    s = TikvSubject.from_spec(SubjectSpec(type="tikv"), CTX, docker)  # type: ignore[arg-type]
    nodes, gateway = asyncio.run(s._nodes_and_gateway())
    assert docker.calls == 1
    assert [n.name for n in nodes] == ["pd1", "pd2", "pd3", "tikv1", "tikv2", "tikv3"]
    assert [n.role for n in nodes] == ["pd"] * 3 + ["tikv"] * 3
    assert gateway == url
    assert asyncio.run(s.gateway_url()) == url
    assert s.client(nodes[0], 1.0)._base == ""  # set by a health check, not before
