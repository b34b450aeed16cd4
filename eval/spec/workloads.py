"""The workload kinds at the YAML boundary: `workload: {kind: kv | register, ...}`, a union
discriminated on `kind`, where a mapping without `kind` is the unique-key workload (so every
campaign written before there were kinds parses, and hashes, as it did)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

__all__ = ["KVWorkloadSpec", "RegisterWorkloadSpec", "WorkloadSpec"]


class KVWorkloadSpec(BaseModel):
    """The unique-key workload (`kind: kv`, the default): unique-key writes, reads of
    acknowledged keys, and a final read of every write for lost-write checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["kv"] = "kv"
    rate_per_s: float = Field(default=20, gt=0, le=5000)
    concurrency: int = Field(default=4, ge=1, le=256)  # in-flight ops per node
    op_timeout_s: float = Field(default=2.0, gt=0, le=60)
    read_fraction: float = Field(default=0.3, ge=0, le=1)

    @model_serializer(mode="wrap")
    def _omit_default_kind(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `kind` key for the default workload: specs written before there were several
        kinds keep their spec hash (and so their trial keys)."""
        data: dict[str, Any] = handler(self)
        data.pop("kind", None)
        return data


class RegisterWorkloadSpec(BaseModel):
    """The register workload (`kind: register`): reads, writes and compare-and-set on `keys`
    keys with unique values, one op in flight per logical client (`clients_per_node` per
    node), recorded as a history the linearizability checker judges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["register"]
    keys: int = Field(default=3, ge=1, le=1000)
    clients_per_node: int = Field(default=2, ge=1, le=64)
    rate_per_s: float = Field(default=20, gt=0, le=5000)  # all clients together
    op_timeout_s: float = Field(default=1.0, gt=0, le=60)
    read_fraction: float = Field(default=0.5, ge=0, le=1)
    cas_fraction: float = Field(default=0.25, ge=0, le=1)  # of the rest: writes
    read: Literal["linearizable", "serializable"] = "linearizable"
    check_budget_s: float = Field(default=60, gt=0, le=3600)  # checker deadline -> unknown
    check_max_steps: int = Field(default=50_000_000, ge=1)

    @model_validator(mode="after")
    def _fractions(self) -> RegisterWorkloadSpec:
        if self.read_fraction + self.cas_fraction > 1:
            raise ValueError("read_fraction + cas_fraction must be at most 1")
        return self


def _default_kind(v: Any) -> Any:
    """`workload:` without `kind` is the unique-key workload (every spec before kinds)."""
    if isinstance(v, Mapping) and "kind" not in v:
        return {**v, "kind": "kv"}
    return v


WorkloadSpec = Annotated[
    KVWorkloadSpec | RegisterWorkloadSpec,
    BeforeValidator(_default_kind),
    Field(discriminator="kind"),
]
