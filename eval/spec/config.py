"""The campaign file: pydantic models at the YAML boundary, and the one loader.

`load_campaign(path)` is used by both `eval validate` and `eval run`. It validates the whole
file up front, including every fault's parameters for every point of its parameter grid,
and raises ConfigError(file, key path, reason) on the first problem found.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
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
from chaos_eval.spec.drift import Drift
from chaos_eval.spec.targeting import validate_target
from chaos_eval.spec.vocabulary import FAULT_ALIASES, normalize_chaos
from chaos_eval.spec.workloads import KVWorkloadSpec, WorkloadSpec

Scalar = str | int | float | bool
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubjectSpec(_Frozen):
    """One cluster to test. `type` picks the implementation; `name` labels its cells."""

    type: str
    name: str = ""
    image: str | None = None  # image override (else the built-in default)
    data_mb: int = Field(default=256, ge=192, le=65536)  # etcd preallocates 128 MB of WAL
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
        if v and not NAME_RE.match(v):
            raise ValueError("must be 1-63 of [A-Za-z0-9_.-], starting alphanumeric")
        return v

    @property
    def label(self) -> str:
        return self.name or self.type

    @model_serializer(mode="wrap")
    def _omit_empty_params(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `params` key when there are none: specs written before subjects took params
        keep their spec hash (and so their trial keys)."""
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
        """Every point of the parameter grid, in a stable order."""
        keys = sorted(self.params)
        axes = [v if isinstance(v, list) else [v] for v in (self.params[k] for k in keys)]
        for k, axis in zip(keys, axes, strict=True):
            if not axis:
                raise ValueError(f"params.{k}: an empty list expands to no trials")
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
        if data.get("linearizable") is None:
            data.pop("linearizable", None)
        return data


class CampaignConfig(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=63)]
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    subjects: list[SubjectSpec] = Field(min_length=1)
    chaos_types: list[ChaosSpec] = Field(default_factory=list)
    trials_per_combination: int = Field(default=1, ge=1, le=10000)
    parallel: int = Field(default=1, ge=1, le=64)
    cooldown_seconds: float = Field(default=0, ge=0, le=3600)
    include_baseline: bool = True
    timing: Timing = Field(default_factory=Timing)
    workload: WorkloadSpec = Field(default_factory=KVWorkloadSpec)
    slo: SLO = Field(default_factory=SLO)
    max_retries: int = Field(default=1, ge=0, le=10)
    max_consecutive_errors: int = Field(default=5, ge=1, le=1000)
    drift: Drift = Field(default_factory=Drift)  # chaos_eval.spec.drift

    @model_serializer(mode="wrap")
    def _omit_default_drift(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `drift` key when it is the default: specs written before it existed keep their
        spec hash (and so their trial keys)."""
        data: dict[str, Any] = handler(self)
        if self.drift == Drift():
            data.pop("drift", None)
        return data

    @property
    def longest_phase_s(self) -> float:
        t = self.timing
        return max(t.healthy_timeout_s, t.warmup_s, t.fault_duration_s, t.recovery_timeout_s)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("must be 1-63 of [A-Za-z0-9_.-], starting alphanumeric")
        return v

    @field_validator("subjects", mode="before")
    @classmethod
    def _subject_shorthand(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"type": s} if isinstance(s, str) else s for s in v]
        return v


ChaosSpec.model_rebuild()


def _key_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _check_grids(cfg: CampaignConfig, file: str) -> None:
    """Validate every grid point of every fault against its own parameter model, and every
    subject's params against the subject's model."""
    for i, chaos in enumerate(cfg.chaos_types):
        model = registry.fault_params_model(chaos.type)
        try:
            points = chaos.grid()
        except ValueError as e:
            raise ConfigError(file, f"chaos_types[{i}]", str(e)) from None
        for point in points:
            try:
                model.model_validate(point)
            except ValidationError as e:
                err = e.errors()[0]
                key = _key_path(["chaos_types", i, "params", *err["loc"]])
                raise ConfigError(file, key, f"{err['msg']} (got {err.get('input')!r})") from None
    for i, subject in enumerate(cfg.subjects):
        smodel = registry.subject_params_model(subject.type)
        try:
            smodel.model_validate(subject.params)
        except ValidationError as e:
            err = e.errors()[0]
            key = _key_path(["subjects", i, "params", *err["loc"]])
            reason = (
                "unknown key (not an option of this subject)"
                if (err["type"] == "extra_forbidden")
                else err["msg"]
            )
            raise ConfigError(file, key, f"{reason} (got {err.get('input')!r})") from None
    slos = [("slo", cfg.slo)] + [
        (f"chaos_types[{i}].slo", c.slo) for i, c in enumerate(cfg.chaos_types) if c.slo
    ]
    for where, slo in slos:
        if slo.linearizable and cfg.workload.kind != "register":
            raise ConfigError(
                file, f"{where}.linearizable", "needs `workload: {kind: register}` (a history)"
            )
    labels = [s.label for s in cfg.subjects]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ConfigError(file, "subjects", f"duplicate subject name(s) {dupes}: set `name:`")


def parse_campaign(raw: object, file: str) -> CampaignConfig:
    """Validate an already-parsed YAML document."""
    if not isinstance(raw, Mapping):
        raise ConfigError(file, "", "the campaign must be a YAML mapping at the top level")
    try:
        cfg = CampaignConfig.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown key (not part of the campaign format)"
        more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(file, _key_path(loc) or "(top level)", reason + more) from None
    _check_grids(cfg, file)
    if not cfg.chaos_types and not cfg.include_baseline:
        raise ConfigError(
            file, "chaos_types", "the campaign expands to zero trials (no faults, no baseline)"
        )
    return cfg


def load_campaign(path: Path) -> CampaignConfig:
    """Read, parse and fully validate a campaign file."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(file, "", f"cannot read: {e}") from None
    too_deep = ConfigError(file, "", f"nested too deeply (at most {MAX_DEPTH} levels)")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(file, where, f"invalid YAML: {problem}") from None
    except RecursionError:  # the YAML composer recurses once per level
        raise too_deep from None
    if _depth(raw) > MAX_DEPTH:
        raise too_deep
    return parse_campaign(raw, file)


MAX_DEPTH = 32  # the campaign format nests 5 levels; nothing valid comes near this


def _depth(doc: object) -> int:
    """How deeply lists and mappings nest (iterative: never recurses itself)."""
    deepest, todo = 0, [(doc, 0)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(node, Mapping):
            todo += [(v, level + 1) for v in node.values()]
        elif isinstance(node, list):
            todo += [(v, level + 1) for v in node]
    return deepest


def canonical_params(params: Mapping[str, Scalar]) -> str:
    """A stable text form of one grid point (used in keys and cell labels)."""
    return ",".join(f"{k}={params[k]}" for k in sorted(params))
