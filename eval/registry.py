"""The one explicit map from a `type` string to its implementation.

Nothing registers itself by being imported: adding a subject or a fault means adding one
line here. Entries are dotted paths resolved on first use, so `eval validate` and
`eval analyze` do not import Docker-facing code they never call.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import BaseModel

# type -> "module:Class"; the image recipe each subject's default image comes from.
SUBJECTS: dict[str, str] = {
    "etcd": "subjects.etcd:EtcdSubject",
    "noop": "subjects.noop:NoopSubject",
}
SUBJECT_IMAGES: dict[str, tuple[str, ...]] = {
    "etcd": ("etcd", "helper"),
    "noop": (),
}

# type -> ("module:FaultClass", "module:ParamsModel")
FAULTS: dict[str, tuple[str, str]] = {
    "node_kill": ("chaos.node_kill:NodeKillFault", "chaos.node_kill:NodeKillParams"),
    "latency": ("chaos.latency:LatencyFault", "chaos.latency:LatencyParams"),
    "packet_loss": ("chaos.packet_loss:PacketLossFault", "chaos.packet_loss:PacketLossParams"),
    "partition": ("chaos.partition:PartitionFault", "chaos.partition:PartitionParams"),
    "pause": ("chaos.pause:PauseFault", "chaos.pause:PauseParams"),
    "disk_pressure": (
        "chaos.disk_pressure:DiskPressureFault", "chaos.disk_pressure:DiskPressureParams"
    ),
    "noop": ("chaos.noop:NoopFault", "chaos.noop:NoopParams"),
}


@cache
def _resolve(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def subject_kinds() -> frozenset[str]:
    return frozenset(SUBJECTS)


def fault_kinds() -> frozenset[str]:
    return frozenset(FAULTS)


def subject_class(kind: str) -> Any:
    return _resolve(SUBJECTS[kind])


def fault_class(kind: str) -> Any:
    return _resolve(FAULTS[kind][0])


def fault_params_model(kind: str) -> type[BaseModel]:
    model = _resolve(FAULTS[kind][1])
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model
