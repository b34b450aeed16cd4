"""The campaign file: pydantic models at the YAML boundary, and the one loader.

`load_campaign(path)` is used by both `eval validate` and `eval run` (and a recorded spec
is re-parsed by the same `parse_campaign` on resume). It validates the whole file up front:
strictly (no silent coercion: `parallel: true` and `delay_ms: '100'` are errors, NaN is
named), duplicate YAML keys refused (eval/spec/loader.py), each subject against its static
shape (data size, image options), then what run would check later (eval/spec/consistency.py:
the matrix size, fault parameter axes, roles, target nodes, timing). It raises one
ConfigError carrying every problem found, one line each (file, key path, reason).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from chaos_eval.errors import ConfigError
from chaos_eval.spec import registry
from chaos_eval.spec.consistency import (
    DEFAULT_MAX_TRIALS,
    campaign_problems,
    field_problems,
)
from chaos_eval.spec.drift import Drift
from chaos_eval.spec.image_ref import reference_problem, tag_problem
from chaos_eval.spec.loader import read_yaml
from chaos_eval.spec.samples import Samples
from chaos_eval.spec.targeting import validate_target
from chaos_eval.spec.vocabulary import FAULT_ALIASES, normalize_chaos
from chaos_eval.spec.workloads import KVWorkloadSpec, WorkloadSpec

__all__ = ["DEFAULT_MAX_TRIALS", "CampaignConfig", "ChaosSpec", "SubjectSpec", "load_campaign"]

Scalar = str | int | float | bool
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # always fullmatch: `$` allows "\n"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class SubjectSpec(_Frozen):
    """One cluster to test. `type` picks the implementation; `name` labels its cells."""

    type: str
    name: str = ""
    image: str | None = None  # image override (else the built-in default)
    # the data volume's size; its default and minimum are the subject's (SubjectShape), filled
    # in here so the recorded spec carries the value the subject was built with
    data_mb: int = Field(default=256, ge=64, le=65536)
    version: str | None = None  # for subjects whose image tag is a version (TiKV)
    # subject-specific options, validated by that subject's own model (registry.SUBJECT_PARAMS)
    params: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_subject(cls, v: str) -> str:
        if v not in registry.subject_kinds():
            known = ", ".join(sorted(registry.subject_kinds()))
            raise ValueError(f"unknown subject type {v!r} (known: {known})")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v and not NAME_RE.fullmatch(v):
            raise ValueError("must be 1-63 of [A-Za-z0-9_.-], starting alphanumeric")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        problem = None if v is None else reference_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        problem = None if v is None else tag_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="before")
    @classmethod
    def _subject_default_data_mb(cls, data: Any) -> Any:
        """No `data_mb:` given: the subject's own default (TiKV needs more than etcd)."""
        if isinstance(data, dict) and "data_mb" not in data and data.get("type") in (
            registry.subject_kinds()
        ):
            shape = registry.subject_shape(data["type"])
            if shape is not None:
                return {**data, "data_mb": shape.default_data_mb}
        return data

    @model_validator(mode="after")
    def _fits_its_subject(self) -> SubjectSpec:
        """What the subject itself would refuse at run time, refused now."""
        shape = registry.subject_shape(self.type)
        if shape is None:
            return self
        problems = []
        if self.data_mb < shape.min_data_mb:
            problems.append(f"data_mb={self.data_mb}: {self.type} needs at least "
                            f"{shape.min_data_mb}")
        if self.image is not None and not shape.takes_image:
            problems.append(f"{self.type} does not take `image:`"
                            + (" (choose its images with `version:`)" if shape.takes_version
                               else ""))
        if self.version is not None and not shape.takes_version:
            problems.append(f"{self.type} does not take `version:` (its image is `image:`)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def label(self) -> str:
        return self.name or self.type

    @model_serializer(mode="wrap")
    def _omit_empty_params(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `params` key when there are none: older specs keep their hash (and trial keys)."""
        data: dict[str, Any] = handler(self)
        if not data.get("params"):
            data.pop("params", None)
        return data


class ChaosSpec(_Frozen):
    """One fault type with a parameter grid: list values expand into separate cells."""

    type: str
    target: str = "random"
    role: str | None = None
    params: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    slo: SLO | None = None  # overrides the campaign SLO for this fault
    samples: Samples | None = None  # overrides the campaign's `samples:` for this fault

    @model_serializer(mode="wrap")
    def _omit_unset_samples(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `samples` key unless set: older specs keep their spec hash."""
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k != "samples" or v is not None}

    @model_validator(mode="before")
    @classmethod
    def _seed_vocabulary(cls, data: Any) -> Any:
        """The seed plan's words (network_partition, a min_ms/max_ms latency range) in ours:
        chaos_eval.spec.vocabulary."""
        return normalize_chaos(data)

    @field_validator("type")
    @classmethod
    def _known_fault(cls, v: str) -> str:
        if v not in registry.fault_kinds():
            known = ", ".join(sorted({*registry.fault_kinds(), *FAULT_ALIASES}))
            raise ValueError(f"unknown fault type {v!r} (known: {known})")
        return v

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        problem = validate_target(v)
        if problem:
            raise ValueError(problem)
        return v

    def grid(self) -> list[dict[str, Scalar]]:
        """Every point of the parameter grid, in a stable order. Only called on a validated
        campaign, whose size was counted first (eval/spec/consistency.py)."""
        keys = sorted(self.params)
        axes = [v if isinstance(v, list) else [v] for v in (self.params[k] for k in keys)]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


class Timing(_Frozen):
    """Per-trial phases, in seconds. Every wait the harness makes is one of these."""

    healthy_timeout_s: float = Field(default=60, gt=0, le=3600)
    warmup_s: float = Field(default=5, ge=0, le=3600)
    fault_duration_s: float = Field(default=10, gt=0, le=86400)
    recovery_timeout_s: float = Field(default=60, gt=0, le=3600)
    cleanup_timeout_s: float = Field(default=60, gt=0, le=600)
    trial_timeout_s: float = Field(default=900, gt=0, le=86400)


class SLO(_Frozen):
    max_recovery_s: float | None = Field(default=30, gt=0)
    min_availability_during_fault: float | None = Field(default=None, ge=0, le=1)
    min_availability_after_fault: float | None = Field(default=None, ge=0, le=1)
    max_lost_writes: int | None = Field(default=0, ge=0)
    linearizable: bool | None = None  # true: a non-linearizable register history fails

    @model_serializer(mode="wrap")
    def _omit_unset_linearizable(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `linearizable` key unless set: older specs keep their spec hash."""
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k != "linearizable" or v is not None}


class CampaignConfig(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=63)]
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    subjects: list[SubjectSpec] = Field(min_length=1)
    chaos_types: list[ChaosSpec] = Field(default_factory=list)
    trials_per_combination: int = Field(default=1, ge=1, le=10000)
    parallel: int = Field(default=1, ge=1, le=64)
    warm_pool: int = Field(default=0, ge=0, le=64)  # clusters started ahead: run/warm_pool.py
    cooldown_seconds: float = Field(default=0, ge=0, le=3600)
    include_baseline: bool = True
    timing: Timing = Field(default_factory=Timing)
    workload: WorkloadSpec = Field(default_factory=KVWorkloadSpec)
    slo: SLO = Field(default_factory=SLO)
    max_retries: int = Field(default=1, ge=0, le=10)
    max_consecutive_errors: int = Field(default=5, ge=1, le=1000)
    drift: Drift = Field(default_factory=Drift)  # chaos_eval.spec.drift
    # above how many trials the campaign is refused (consistency.DEFAULT_MAX_TRIALS if unset)
    max_trials: int | None = Field(default=None, ge=1, le=10_000_000)
    # run each cell to a sample target / stopping rule instead (chaos_eval.spec.samples)
    samples: Samples | None = None

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `drift` key when it is the default, no `max_trials`/`samples` when unset, no
        `warm_pool` when 0: specs written before they existed keep their spec hash (and so
        their trial keys)."""
        data: dict[str, Any] = handler(self)
        if not data.get("warm_pool"):
            data.pop("warm_pool", None)
        if self.drift == Drift():
            data.pop("drift", None)
        if data.get("max_trials") is None:
            data.pop("max_trials", None)
        if data.get("samples") is None:
            data.pop("samples", None)
        return data

    @property
    def longest_phase_s(self) -> float:
        t = self.timing
        return max(t.healthy_timeout_s, t.warmup_s, t.fault_duration_s, t.recovery_timeout_s)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError("must be 1-63 of [A-Za-z0-9_.-], starting alphanumeric")
        return v

    @field_validator("subjects", mode="before")
    @classmethod
    def _subject_shorthand(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"type": s} if isinstance(s, str) else s for s in v]
        return v


ChaosSpec.model_rebuild()


def parse_campaign(raw: object, file: str) -> CampaignConfig:
    """Validate an already-parsed document (a YAML file's, or a recorded spec's). Raises one
    ConfigError with every problem found: first every field error; if there are none, every
    problem of the campaign as a whole (eval/spec/consistency.py)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(file, "", "the campaign must be a YAML mapping at the top level")
    try:
        cfg = CampaignConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError.of(file, field_problems(e)) from None
    problems = campaign_problems(cfg)
    if problems:
        raise ConfigError.of(file, problems)
    return cfg


def load_campaign(path: Path) -> CampaignConfig:
    """Read (duplicate keys refused), parse and fully validate a campaign file."""
    return parse_campaign(read_yaml(path), str(path))


def canonical_params(params: Mapping[str, Scalar]) -> str:
    """A stable text form of one grid point (used in keys and cell labels)."""
    return ",".join(f"{k}={params[k]}" for k in sorted(params))
