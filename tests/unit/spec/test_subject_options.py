"""Subject-level configuration without Docker: `params:` validated by each subject's model at
load time, external images (refs, versions, the message saying how to get them), and what
a campaign's subjects need before anything starts."""

from __future__ import annotations

import asyncio

import pytest

from chaos_eval.errors import ConfigError, ImageError
from chaos_eval.images.build import ensure_images
from chaos_eval.images.recipes import (
    EXTERNAL,
    external_ref,
    image_ref,
    missing_images_message,
    require_images,
)
from chaos_eval.spec import registry
from chaos_eval.spec.config import parse_campaign


def campaign(*subjects: object) -> dict[str, object]:
    return {"name": "x", "subjects": list(subjects), "chaos_types": [{"type": "noop"}]}


def test_redis_write_to_param_validates_at_load_time() -> None:
    cfg = parse_campaign(campaign({"type": "redis", "params": {"write_to": "bound"}}), "c.yaml")
    assert cfg.subjects[0].params == {"write_to": "bound"}
    with pytest.raises(ConfigError) as e:
        parse_campaign(campaign({"type": "redis", "params": {"write_to": "replica"}}), "c.yaml")
    assert e.value.key == "subjects[0].params.write_to"
    assert "'primary' or 'bound'" in e.value.reason
    with pytest.raises(ConfigError) as e:
        parse_campaign(campaign({"type": "redis", "params": {"writes": "x"}}), "c.yaml")
    assert e.value.key == "subjects[0].params.writes"
    assert e.value.reason.startswith("unknown key")


def test_a_subject_without_a_params_model_takes_none() -> None:
    parse_campaign(campaign({"type": "noop", "params": {}}), "c.yaml")
    with pytest.raises(ConfigError) as e:
        parse_campaign(campaign({"type": "noop", "params": {"write_to": "bound"}}), "c.yaml")
    assert e.value.key == "subjects[0].params.write_to"


def test_etcd_pre_vote_param_validates_and_reaches_the_compose_env() -> None:
    from chaos_eval.subject import TrialContext
    from chaos_eval.subjects.etcd.subject import EtcdSubject

    cfg = parse_campaign(campaign({"type": "etcd", "params": {"pre_vote": True}}), "c.yaml")
    ctx = TrialContext(1, "k" * 20, seed=1, campaign_uid="u")
    on = EtcdSubject.from_spec(cfg.subjects[0], ctx, None)  # type: ignore[arg-type]
    off = EtcdSubject.from_spec(
        parse_campaign(campaign({"type": "etcd"}), "c.yaml").subjects[0], ctx, None)  # type: ignore[arg-type]
    assert (on.env["CHAOS_EVAL_ETCD_PRE_VOTE"], off.env["CHAOS_EVAL_ETCD_PRE_VOTE"]) == (
        "true", "false")
    with pytest.raises(ConfigError) as e:
        parse_campaign(campaign({"type": "etcd", "params": {"pre_vote": "sometimes"}}), "c.yaml")
    assert e.value.key == "subjects[0].params.pre_vote"
    with pytest.raises(ConfigError) as e:
        parse_campaign(campaign({"type": "etcd", "params": {"write_to": "bound"}}), "c.yaml")
    assert e.value.key == "subjects[0].params.write_to"


def test_every_registered_subject_resolves_with_its_params_model() -> None:
    for kind in registry.subject_kinds():
        cls = registry.subject_class(kind)
        assert cls.kind == kind and hasattr(cls, "from_spec")
        registry.subject_params_model(kind).model_validate({})  # defaults are valid


def test_external_images_are_pinned_and_follow_version(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CHAOS_EVAL_IMAGE_PD", "CHAOS_EVAL_IMAGE_TIKV"):
        monkeypatch.delenv(var, raising=False)
    assert EXTERNAL == {"pd": "pingcap/pd:v7.5.1", "tikv": "pingcap/tikv:v7.5.1"}
    assert all(not ref.endswith(":latest") for ref in EXTERNAL.values())
    assert image_ref("pd") == external_ref("pd") == "pingcap/pd:v7.5.1"
    assert external_ref("tikv", "7.1.2") == external_ref("tikv", "v7.1.2") == (
        "pingcap/tikv:v7.1.2"
    )
    monkeypatch.setenv("CHAOS_EVAL_IMAGE_TIKV", "mirror.local/tikv:v7.5.1")
    assert external_ref("tikv", "7.1.2") == image_ref("tikv") == "mirror.local/tikv:v7.5.1"
    with pytest.raises(ImageError):
        external_ref("etcd")


MESSAGE = """\
missing images: pingcap/pd:v7.5.1, pingcap/tikv:v7.5.1
chaos-eval cannot build these; pull where a registry is reachable: \
docker pull pingcap/pd:v7.5.1; docker pull pingcap/tikv:v7.5.1
or without a registry: docker save pingcap/pd:v7.5.1 pingcap/tikv:v7.5.1 -o images.tar \
(on a machine that has them), then here: docker load -i images.tar
(or point CHAOS_EVAL_IMAGE_<NAME> at images you have)"""


def test_missing_images_message_says_which_and_how() -> None:
    assert missing_images_message(["pingcap/pd:v7.5.1", "pingcap/tikv:v7.5.1"]) == MESSAGE
    one = missing_images_message(["chaos-eval/redis:local"])
    assert one == "missing image: chaos-eval/redis:local\nbuild it: chaos-eval images build redis"


class FakeDocker:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    async def images_present(self, refs: list[str]) -> dict[str, bool]:
        return {r: r in self.present for r in refs}

    async def image_labels(self, ref: str) -> dict[str, str] | None:
        return {} if ref in self.present else None


def test_require_and_ensure_name_every_missing_external_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("CHAOS_EVAL_IMAGE_PD", "CHAOS_EVAL_IMAGE_TIKV"):
        monkeypatch.delenv(var, raising=False)
    docker = FakeDocker({"pingcap/tikv:v7.5.1"})
    with pytest.raises(ImageError) as e:
        asyncio.run(require_images(["pingcap/pd:v7.5.1", "pingcap/tikv:v7.5.1"],
                                   docker))  # type: ignore[arg-type]
    assert str(e.value) == missing_images_message(["pingcap/pd:v7.5.1"])
    with pytest.raises(ImageError, match=r"docker pull pingcap/pd:v7\.5\.1"):
        asyncio.run(ensure_images(["pd", "tikv"], docker))  # type: ignore[arg-type]
    docker.present.add("pingcap/pd:v7.5.1")
    results = asyncio.run(ensure_images(["tikv", "pd"], docker))  # type: ignore[arg-type]
    assert [(r.name, r.ref, r.built) for r in results] == [
        ("tikv", "pingcap/tikv:v7.5.1", False), ("pd", "pingcap/pd:v7.5.1", False)]


def test_empty_params_leave_the_spec_hash_as_it_was() -> None:
    from chaos_eval.spec.matrix import spec_json

    plain = parse_campaign(campaign("etcd"), "c.yaml")
    subjects = __import__("json").loads(spec_json(plain))["subjects"]
    assert subjects == [{"data_mb": 256, "image": None, "name": "", "type": "etcd",
                         "version": None}]  # the same JSON (and hash) as before params
    with_params = parse_campaign(campaign({"type": "redis", "params": {"write_to": "bound"}}),
                                 "c.yaml")
    dumped = spec_json(with_params)
    assert '"params":{"write_to":"bound"}' in dumped
    again = parse_campaign(__import__("json").loads(dumped), "db")  # resume reads it back
    assert again.subjects[0].params == {"write_to": "bound"}
