"""Hostile campaign files (issue 11, classes 4-6): what `validate` accepts, `run` must be
able to run as written; every error of a file at once, one line each; the matrix counted
before it is built; a recorded spec re-parses to exactly the subjects the file built."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.errors import ConfigError
from chaos_eval.spec import registry
from chaos_eval.spec.config import load_campaign, parse_campaign
from chaos_eval.spec.matrix import recorded_config, spec_json


def doc(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "h",
        "subjects": ["etcd"],
        "chaos_types": [{"type": "latency", "params": {"delay_ms": 50}}],
    }
    d.update(over)
    return d


def problems(d: object) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_campaign(d, "c.yaml")
    return str(e.value).splitlines()


def one(d: object, *needles: str) -> str:
    lines = problems(d)
    text = "\n".join(lines)
    for n in needles:
        assert n in text, f"{n!r} not in {lines}"
    return text


# -- class 4: the matrix is counted before it is built ------------------------------------


def test_a_huge_grid_is_refused_by_its_size_without_being_built() -> None:
    axis = list(range(1, 1001))
    d = doc(chaos_types=[{"type": "latency",
                          "params": {"delay_ms": axis, "jitter_ms": list(range(1000))}}])
    t0 = time.monotonic()
    text = one(d, "max_trials", "1,000,001", "10,000")  # the grid and one baseline
    assert time.monotonic() - t0 < 5, "the matrix must be counted, not expanded"
    assert len(text.splitlines()) == 1


def test_an_astronomic_grid_is_counted_not_expanded() -> None:
    axes = {f"k{i}": list(range(10)) for i in range(30)}  # 10**30 points
    text = one(doc(chaos_types=[{"type": "noop", "params": axes}]), "max_trials")
    assert "10" in text


def test_max_trials_key_raises_the_limit() -> None:
    axis = list(range(1, 121))
    d = doc(chaos_types=[{"type": "latency", "params": {"delay_ms": axis}}],
            trials_per_combination=100)
    one(d, "max_trials", "12,001")
    cfg = parse_campaign({**d, "max_trials": 20000}, "c.yaml")
    assert cfg.max_trials == 20000


def test_a_bad_axis_value_is_reported_once_per_value_not_per_point() -> None:
    d = doc(chaos_types=[{"type": "latency",
                          "params": {"delay_ms": [50, -1, 70], "jitter_ms": list(range(50))}}])
    lines = problems(d)
    assert len(lines) == 1, lines
    assert "chaos_types[0].params.delay_ms" in lines[0] and "-1" in lines[0]


# -- class 5: accepted but wrong at run time -----------------------------------------------


def test_tikv_data_mb_below_its_minimum_is_a_config_error() -> None:
    one(doc(subjects=[{"type": "tikv", "data_mb": 256}]), "subjects[0]", "512")


@pytest.mark.parametrize(
    "image",
    ["etcd; rm -rf /", "--privileged", "etcd\nFROM x", "../../etc/passwd", "a b", "UPPER/case",
     "repo:tag:tag", "", "-x"],
)
def test_bad_image_references_are_refused(image: str) -> None:
    one(doc(subjects=[{"type": "etcd", "image": image}]), "subjects[0].image")


@pytest.mark.parametrize("image", ["chaos-eval/etcd:local", "quay.io/coreos/etcd:v3.5.9",
                                   "localhost:5000/x/y@sha256:" + "a" * 64, "redis"])
def test_good_image_references_are_accepted(image: str) -> None:
    parse_campaign(doc(subjects=[{"type": "etcd", "image": image}]), "c.yaml")


@pytest.mark.parametrize("version", ["7.5.1; true", "--privileged", "7\n", "../7", "", ".7"])
def test_bad_versions_are_refused(version: str) -> None:
    one(doc(subjects=[{"type": "tikv", "version": version}]), "subjects[0].version")


def test_version_on_a_subject_that_ignores_it_is_refused() -> None:
    one(doc(subjects=[{"type": "etcd", "version": "3.5.0"}]), "subjects[0]", "version")


def test_image_on_tikv_is_refused_at_validate() -> None:
    one(doc(subjects=[{"type": "tikv", "image": "x/y:1"}]), "subjects[0]", "image")


def test_unknown_role_is_refused() -> None:
    one(doc(chaos_types=[{"type": "node_kill", "role": "pd"}]), "chaos_types[0].role", "pd",
        "etcd")


def test_known_role_is_accepted() -> None:
    parse_campaign(doc(subjects=["tikv"], chaos_types=[{"type": "node_kill", "role": "pd"}]),
                   "c.yaml")


def test_target_node_the_subject_does_not_have_is_refused() -> None:
    one(doc(chaos_types=[{"type": "node_kill", "target": "etcd9"}]), "chaos_types[0].target",
        "etcd9")
    parse_campaign(doc(chaos_types=[{"type": "node_kill", "target": "etcd2"}]), "c.yaml")


def test_fault_longer_than_the_trial_timeout_is_refused() -> None:
    one(doc(timing={"fault_duration_s": 1000, "trial_timeout_s": 900}), "timing", "trial_timeout_s")


def test_name_with_a_trailing_newline_is_refused() -> None:
    one(doc(name="h\n"), "name")
    one(doc(subjects=[{"type": "etcd", "name": "e\n"}]), "subjects[0].name")


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"parallel": True}, "parallel"),
        ({"trials_per_combination": 1.5}, "trials_per_combination"),
        ({"include_baseline": "yes"}, "include_baseline"),
        ({"chaos_types": [{"type": "latency", "params": {"delay_ms": "100"}}]},
         "chaos_types[0].params.delay_ms"),
        ({"chaos_types": [{"type": "noop", "params": {"fail_inject": 1}}]},
         "chaos_types[0].params.fail_inject"),
        ({"timing": {"warmup_s": "5"}}, "timing.warmup_s"),
    ],
)
def test_silent_coercions_are_errors(over: dict[str, Any], key: str) -> None:
    one(doc(**over), key)


def test_nan_is_named_as_nan() -> None:
    one(doc(timing={"warmup_s": math.nan}), "timing.warmup_s", "NaN")
    one(doc(chaos_types=[{"type": "packet_loss", "params": {"loss_pct": math.nan}}]),
        "chaos_types[0].params.loss_pct", "NaN")


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: a\nsubjects: [etcd]\nname: b\nchaos_types: [{type: node_kill}]\n")
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_campaign(p)
    p.write_text("name: a\nsubjects: [{type: etcd, data_mb: 300, data_mb: 400}]\n")
    with pytest.raises(ConfigError, match="duplicate key 'data_mb'"):
        load_campaign(p)


def test_every_error_of_a_file_is_reported_at_once() -> None:
    d = doc(
        parallel=0,
        subjects=[{"type": "tikv", "data_mb": 256},
                  {"type": "etcd", "name": "e2", "version": "x;y"}],
        timing={"warmup_s": -1},
    )
    lines = problems(d)
    assert len(lines) >= 4, lines
    assert all(line.startswith("c.yaml: ") for line in lines), lines
    joined = "\n".join(lines)
    for key in ("parallel", "subjects[0]", "subjects[1].version", "timing.warmup_s"):
        assert f"c.yaml: {key}:" in joined, (key, lines)


def test_every_bad_axis_of_a_fault_is_reported() -> None:
    d = doc(chaos_types=[{"type": "latency", "params": {"delay_ms": [-1], "jitter_ms": [-2]}},
                         {"type": "packet_loss", "params": {"loss_pct": 500}}])
    joined = "\n".join(problems(d))
    for key in ("chaos_types[0].params.delay_ms", "chaos_types[0].params.jitter_ms",
                "chaos_types[1].params.loss_pct"):
        assert key in joined


# -- class 6: a recorded spec builds exactly the subjects the file built -------------------


@pytest.mark.parametrize("kind", sorted(registry.SUBJECTS))
def test_recorded_spec_reparses_to_identical_subjects(kind: str) -> None:
    cfg = parse_campaign(doc(subjects=[kind], chaos_types=[{"type": "noop"}]), "c.yaml")
    again = recorded_config(spec_json(cfg), "db")
    assert again == cfg
    assert again.subjects[0].data_mb == cfg.subjects[0].data_mb
    assert spec_json(again) == spec_json(cfg)


def test_tikv_default_data_mb_is_its_own_and_survives_a_round_trip() -> None:
    cfg = parse_campaign(doc(subjects=["tikv"], chaos_types=[{"type": "noop"}]), "c.yaml")
    shape = registry.subject_shape("tikv")
    assert shape is not None
    assert cfg.subjects[0].data_mb == shape.default_data_mb >= shape.min_data_mb
    assert recorded_config(spec_json(cfg), "db").subjects[0].data_mb == shape.default_data_mb


def test_every_registered_subject_declares_its_shape() -> None:
    for kind in registry.SUBJECTS:
        shape = registry.subject_shape(kind)
        assert shape is not None, kind
        assert shape.node_names and shape.roles
        assert shape.min_data_mb <= shape.default_data_mb


@pytest.mark.parametrize("kind", ["etcd", "redis", "tikv"])
def test_recorded_spec_builds_the_same_subject_as_the_file(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The subject a resume builds (from the recorded spec) is the one the run built."""
    from chaos_eval.subject import TrialContext

    for var in ("PD", "TIKV", "HELPER", "TIKV_CLIENT", "ETCD", "REDIS"):
        monkeypatch.delenv(f"CHAOS_EVAL_IMAGE_{var}", raising=False)
    ctx = TrialContext(1, "k" * 20, 7, "uid")
    cfg = parse_campaign(doc(subjects=[kind], chaos_types=[{"type": "noop"}]), "c.yaml")
    again = recorded_config(spec_json(cfg), "db")
    cls = registry.subject_class(kind)
    first = cls.from_spec(cfg.subjects[0], ctx, None)
    second = cls.from_spec(again.subjects[0], ctx, None)
    def stable(env: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in env.items() if k != "CHAOS_EVAL_TOKEN"}  # random per instance

    assert stable(first.env) == stable(second.env)


def test_validate_prints_every_problem_one_line_each_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chaos_eval.cli.app import app

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: h\nparallel: true\n"
        "subjects: [{type: tikv, data_mb: 256}, {type: etcd, name: e2, image: '--privileged'}]\n"
        "timing: {warmup_s: .nan}\nchaos_types: [{type: node_kill}]\n"
    )
    res = CliRunner().invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for key in ("parallel", "subjects[0]", "subjects[1].image", "timing.warmup_s"):
        assert f"{bad}: {key}: " in res.output, (key, res.output)
    assert "NaN" in res.output
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: h\nsubjects: [etcd]\nsubjects: [redis]\n")
    res = CliRunner().invoke(app, ["validate", str(dup)])
    assert res.exit_code == 2 and "duplicate key 'subjects'" in res.output, res.output
    assert "Traceback" not in res.output


def test_a_non_scalar_param_is_one_line_not_one_per_union_member() -> None:
    lines = problems(doc(chaos_types=[{"type": "noop", "params": {"label": {"a": 1}}}]))
    assert lines == ["c.yaml: chaos_types[0].params.label: must be a string, number or boolean "
                     "(or, in a fault's params, a list of them)"]
