"""What a campaign must satisfy beyond the shape of its fields: the checks `run` would make
later, made at load time so `eval validate` refuses what `run` could not run.

    size      the matrix is COUNTED (product of axis lengths), never built, and refused
              above `max_trials` (DEFAULT_MAX_TRIALS unless the file raises it)
    axes      each value of each fault parameter axis is validated once, strictly, against
              the fault's own model (not once per grid point)
    points    cross-field checks per grid point, lazily, stopping at the first bad point
    subjects  subject params against the subject's model; labels unique
    targets   `role:` and a named `target:` exist in every subject the fault runs on
              (the subject's static SubjectShape)
    timing    the fault's hold fits in trial_timeout_s

Each check returns (key path, reason) pairs; the caller reports them all at once.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from chaos_eval.spec import registry
from chaos_eval.spec.targeting import TargetKind, TargetSpec

if TYPE_CHECKING:
    from chaos_eval.spec.config import CampaignConfig, ChaosSpec

DEFAULT_MAX_TRIALS = 10_000
Problem = tuple[str, str]


def key_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_error(err: Mapping[str, Any]) -> str:
    """One pydantic error as a reason: its message and the value given (NaN named as NaN)."""
    value = err.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a number (NaN and infinity are refused)"
    if err["type"] == "extra_forbidden":
        return "unknown key (not part of the campaign format)"
    reason = str(err["msg"]).removeprefix("Value error, ")
    if err["type"].startswith(("missing", "value_error")) or isinstance(value, dict | list):
        return reason
    return f"{reason} (got {value!r})"


def model_problems(
    model: type[BaseModel], value: object, prefix: Sequence[int | str]
) -> list[Problem]:
    """Every error of validating `value` strictly against `model`, keyed under `prefix`."""
    try:
        model.model_validate(value, strict=True)
    except ValidationError as e:
        return [(key_path([*prefix, *err["loc"]]), describe_error(err)) for err in e.errors()]
    return []


def axes(chaos: ChaosSpec) -> dict[str, list[Any]]:
    return {k: v if isinstance(v, list) else [v] for k, v in sorted(chaos.params.items())}


def trial_count(cfg: CampaignConfig) -> int:
    """How many trials the campaign expands to, computed from the axis lengths alone."""
    def per_cell(c: ChaosSpec) -> int:  # samples: each cell's max_trials
        sampled = (c.samples or cfg.samples) if cfg.samples else None
        return sampled.max_trials if sampled else cfg.trials_per_combination

    cells = sum(math.prod(len(a) for a in axes(c).values()) * per_cell(c) for c in cfg.chaos_types)
    base = len(cfg.subjects) if cfg.include_baseline else 0
    return base + len(cfg.subjects) * cells


def size_problems(cfg: CampaignConfig) -> list[Problem]:
    limit = cfg.max_trials or DEFAULT_MAX_TRIALS
    n = trial_count(cfg)
    if n == 0:
        return [("chaos_types", "the campaign expands to zero trials (no faults, no baseline)")]
    if n > limit:
        per_cell = " (samples.max_trials per cell)" if cfg.samples else ""
        return [("max_trials", f"the campaign expands to {n:,} trials{per_cell}, above the "
                 f"limit of {limit:,}; shrink the grid or raise `max_trials:` to run it anyway")]
    return []


def samples_problems(cfg: CampaignConfig) -> list[Problem]:
    """`samples:` replaces `trials_per_combination`; a campaign says one or the other."""
    problems: list[Problem] = [
        (f"chaos_types[{i}].samples", "a fault's own samples need the campaign's `samples:` "
         "(the campaign samples every cell, or none)")
        for i, c in enumerate(cfg.chaos_types) if c.samples is not None and cfg.samples is None
    ]
    if cfg.samples is not None and cfg.trials_per_combination != 1:
        problems.append(("samples", f"give either samples or trials_per_combination "
                         f"({cfg.trials_per_combination}), not both: samples decides how many "
                         "trials each cell runs"))
    return problems


def fault_problems(i: int, chaos: ChaosSpec) -> list[Problem]:
    """Per axis value first (each value once, the other axes at their first value); then, if
    every value passes alone, each point lazily until the first bad one."""
    model = registry.fault_params_model(chaos.type)
    grid = axes(chaos)
    where: list[int | str] = ["chaos_types", i, "params"]
    problems = [(key_path([*where, k]), "an empty list expands to no trials")
                for k, v in grid.items() if not v]
    if problems:
        return problems
    first = {k: v[0] for k, v in grid.items()}
    seen: set[Problem] = set()
    for k, values in grid.items():
        for value in values:
            if isinstance(value, float) and not math.isfinite(value):
                problems.append((key_path([*where, k]), f"{value!r} is not a number (NaN/inf)"))
                continue
            for p in model_problems(model, {**first, k: value}, where):
                if p[0] == key_path([*where, k]) and p not in seen:
                    seen.add(p)
                    problems.append(p)
    if problems:
        return [_fault_key(chaos, p) for p in problems]
    for point in _points(grid):
        bad = model_problems(model, point, where)
        if bad:
            return [(key, f"{reason} at grid point {point}") for key, reason in bad]
    return []


def _fault_key(chaos: ChaosSpec, p: Problem) -> Problem:
    if p[1].startswith("unknown key"):
        return p[0], f"unknown key (not a parameter of {chaos.type})"
    return p


def _points(grid: Mapping[str, list[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, combo, strict=True))


def subject_problems(cfg: CampaignConfig) -> list[Problem]:
    problems: list[Problem] = []
    for i, subject in enumerate(cfg.subjects):
        smodel = registry.subject_params_model(subject.type)
        for key, reason in model_problems(smodel, subject.params, ["subjects", i, "params"]):
            if reason.startswith("unknown key"):
                reason = "unknown key (not an option of this subject)"
            problems.append((key, reason))
    labels = [s.label for s in cfg.subjects]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        problems.append(("subjects", f"duplicate subject name(s) {dupes}: set `name:`"))
    return problems


def target_problems(cfg: CampaignConfig) -> list[Problem]:
    """A role or a named target node every subject of the campaign must have."""
    problems: list[Problem] = []
    for i, chaos in enumerate(cfg.chaos_types):
        for subject in cfg.subjects:
            shape = registry.subject_shape(subject.type)
            if shape is None:
                continue
            if chaos.role is not None and chaos.role not in shape.roles:
                problems.append((f"chaos_types[{i}].role", f"{subject.label} ({subject.type}) "
                                 f"has no role {chaos.role!r}; its roles: {sorted(shape.roles)}"))
            named = TargetSpec.parse(chaos.target).kind is TargetKind.NODE
            if named and chaos.target not in shape.node_names:
                problems.append((f"chaos_types[{i}].target", f"{subject.label} ({subject.type}) "
                                 f"has no node {chaos.target!r}; its nodes: "
                                 f"{sorted(shape.node_names)}"))
    return problems


def timing_problems(cfg: CampaignConfig) -> list[Problem]:
    t = cfg.timing
    if t.warmup_s + t.fault_duration_s >= t.trial_timeout_s:
        return [("timing", f"warmup_s + fault_duration_s = {t.warmup_s + t.fault_duration_s:g}s "
                 f"does not fit in trial_timeout_s = {t.trial_timeout_s:g}s: every trial would "
                 "time out before its fault ends")]
    return []


def campaign_problems(cfg: CampaignConfig) -> list[Problem]:
    """Every problem of a campaign whose fields are each valid. The size is checked first:
    a matrix above the limit is not walked."""
    size = size_problems(cfg)
    rest = (subject_problems(cfg) + target_problems(cfg) + timing_problems(cfg)
            + slo_problems(cfg) + samples_problems(cfg) + pool_problems(cfg))
    if size:
        return size + rest
    return [p for i, c in enumerate(cfg.chaos_types) for p in fault_problems(i, c)] + rest


def pool_problems(cfg: CampaignConfig) -> list[Problem]:
    """A warm pool larger than `parallel` would start clusters that wait a whole round."""
    if cfg.warm_pool > cfg.parallel:
        return [("warm_pool", f"{cfg.warm_pool} is more than parallel ({cfg.parallel}): at most "
                 "one cluster started ahead per running trial")]
    return []


def slo_problems(cfg: CampaignConfig) -> list[Problem]:
    """An SLO that needs what the workload does not record (`linearizable` needs a history)."""
    slos = [("slo", cfg.slo)] + [
        (f"chaos_types[{i}].slo", c.slo) for i, c in enumerate(cfg.chaos_types) if c.slo
    ]
    return [(f"{where}.linearizable", "needs `workload: {kind: register}` (a history)")
            for where, slo in slos if slo.linearizable and cfg.workload.kind != "register"]


# a loc part naming which member of the Scalar union an error is about: one line, not five
_UNION_BRANCH = re.compile(r"str|int|float|bool|list\[.*\]")
_NOT_SCALAR = "must be a string, number or boolean (or, in a fault's params, a list of them)"


def field_problems(e: ValidationError) -> list[Problem]:
    """Every field error of a campaign document, one line each (a value that fits none of the
    Scalar union's members is one problem, not one per member; NaN is named as NaN)."""
    problems: list[Problem] = []
    for err in e.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        branch = [p for p in loc if isinstance(p, str) and _UNION_BRANCH.fullmatch(p)]
        loc = [p for p in loc if p not in branch]
        value = err.get("input")
        finite = not isinstance(value, float) or math.isfinite(value)
        reason = _NOT_SCALAR if branch and finite else describe_error(err)
        problem = (key_path(loc) or "(top level)", reason)
        if problem not in problems:
            problems.append(problem)
    return problems
