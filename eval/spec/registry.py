"""The one explicit map from a `type` string to its implementation.

Nothing registers itself by being imported: adding a subject or a fault means adding one
line here. Entries are dotted paths resolved on first use, so `eval validate` and
`eval analyze` do not import Docker-facing code they never call.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from chaos_eval.subject import SubjectShape

# type -> "module:Class"; the image recipe each subject's default image comes from.
SUBJECTS: dict[str, str] = {
    "etcd": "chaos_eval.subjects.etcd.subject:EtcdSubject",
    "redis": "chaos_eval.subjects.redis.subject:RedisSubject",
    "tikv": "chaos_eval.subjects.tikv.subject:TikvSubject",
    "noop": "chaos_eval.subjects.noop:NoopSubject",
}
# image names (eval/images/recipes.py: recipes to build, or EXTERNAL images that must be present)
SUBJECT_IMAGES: dict[str, tuple[str, ...]] = {
    "etcd": ("etcd", "helper"),
    "redis": ("redis", "helper"),
    "tikv": ("pd", "tikv", "tikv-client", "helper"),
    "noop": (),
}
# type -> "module:ParamsModel" for a subject's `params:`; a subject not listed takes none
SUBJECT_PARAMS: dict[str, str] = {
    "etcd": "chaos_eval.subjects.etcd.params:EtcdParams",
    "redis": "chaos_eval.subjects.redis.params:RedisParams",
    "tikv": "chaos_eval.subjects.tikv.params:TikvParams",
}

# type -> "module:SHAPE": what the subject is (node names, roles, data size, image options),
# declared statically (chaos_eval.subject.SubjectShape) so validate checks what run would
SUBJECT_SHAPES: dict[str, str] = {
    "etcd": "chaos_eval.subjects.etcd.params:SHAPE",
    "redis": "chaos_eval.subjects.redis.params:SHAPE",
    "tikv": "chaos_eval.subjects.tikv.params:SHAPE",
    "noop": "chaos_eval.subjects.noop:SHAPE",
}
# type -> ("module:FaultClass", "module:ParamsModel")
FAULTS: dict[str, tuple[str, str]] = {
    "node_kill": (
        "chaos_eval.chaos.node_kill:NodeKillFault",
        "chaos_eval.chaos.node_kill:NodeKillParams",
    ),
    "latency": ("chaos_eval.chaos.latency:LatencyFault", "chaos_eval.chaos.latency:LatencyParams"),
    "packet_loss": (
        "chaos_eval.chaos.packet_loss:PacketLossFault",
        "chaos_eval.chaos.packet_loss:PacketLossParams",
    ),
    "partition": (
        "chaos_eval.chaos.partition:PartitionFault",
        "chaos_eval.chaos.partition:PartitionParams",
    ),
    "pause": ("chaos_eval.chaos.pause:PauseFault", "chaos_eval.chaos.pause:PauseParams"),
    "disk_pressure": (
        "chaos_eval.chaos.disk_pressure:DiskPressureFault",
        "chaos_eval.chaos.disk_pressure:DiskPressureParams",
    ),
    "noop": ("chaos_eval.chaos.noop:NoopFault", "chaos_eval.chaos.noop:NoopParams"),
}


# "module:predicate(op, argv) -> bool": the argv shapes the harness's own undo plans hold,
# each checked by the module that builds them; an undo action read from a db runs only if
# one of them accepts it (eval/cleanup/undo.py)
UNDO_ARGV: tuple[str, ...] = (
    "chaos_eval.chaos.net.shaping:is_undo_argv",
    "chaos_eval.chaos.net.partition_rules:is_undo_argv",
    "chaos_eval.chaos.diskfill:is_undo_argv",
)


@cache
def _resolve(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def undo_argv_known(op: str, argv: tuple[str, ...]) -> bool:
    """Whether `argv` is one the harness's own undo plans could hold for `op`."""
    return any(bool(_resolve(path)(op, argv)) for path in UNDO_ARGV)


def subject_kinds() -> frozenset[str]:
    return frozenset(SUBJECTS)


def fault_kinds() -> frozenset[str]:
    return frozenset(FAULTS)


def subject_class(kind: str) -> Any:
    return _resolve(SUBJECTS[kind])


def fault_class(kind: str) -> Any:
    return _resolve(FAULTS[kind][0])


class NoParams(BaseModel):
    """The params model of a subject that takes none: any key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ImageNeeds(Protocol):
    """What `required_images` reads of a subject's spec (chaos_eval.spec.config.SubjectSpec, which
    imports this module: the registry stays below the config)."""

    @property
    def type(self) -> str: ...

    @property
    def version(self) -> str | None: ...


def required_images(specs: Iterable[ImageNeeds]) -> tuple[list[str], list[str]]:
    """What a campaign's subjects need: (recipe names to build, external refs that must be
    present). An external image follows the subject's `version:`
    (chaos_eval.images.recipes.external_ref)."""
    from chaos_eval.images.recipes import EXTERNAL, external_ref

    build: set[str] = set()
    refs: set[str] = set()
    for spec in specs:
        for name in SUBJECT_IMAGES.get(spec.type, ()):
            if name in EXTERNAL:
                refs.add(external_ref(name, spec.version))
            else:
                build.add(name)
    return sorted(build), sorted(refs)


def subject_params_model(kind: str) -> type[BaseModel]:
    if kind not in SUBJECT_PARAMS:
        return NoParams
    model = _resolve(SUBJECT_PARAMS[kind])
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def subject_shape(kind: str) -> SubjectShape | None:
    """The static shape of a subject kind; None for a kind that declares none (test doubles
    registered at run time), which skips the checks that need it."""
    if kind not in SUBJECT_SHAPES:
        return None
    shape = _resolve(SUBJECT_SHAPES[kind])
    if not isinstance(shape, SubjectShape):
        raise TypeError(f"{SUBJECT_SHAPES[kind]} is not a SubjectShape")
    return shape


def fault_params_model(kind: str) -> type[BaseModel]:
    model = _resolve(FAULTS[kind][1])
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model
