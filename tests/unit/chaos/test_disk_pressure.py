"""disk_pressure without Docker: parameters, names, argv, fill goal, confinement, the
member record, and the subject hook seen through a fake."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from pydantic import ValidationError

from chaos_eval.chaos.disk_member import enospc_line, member_state
from chaos_eval.chaos.disk_pressure import DiskPressureFault, DiskPressureParams
from chaos_eval.chaos.diskfill import (
    MAX_FILES,
    confinement_problem,
    fallocate_argv,
    fill_names,
    goal_avail,
    remove_argv,
    size_option,
    topup_argv,
)
from chaos_eval.cleanup.node_state import FILL_PREFIX, VolumeUsage
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import VolumeInfo
from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.fault import BaselineAware, Fault, UndoOp
from chaos_eval.subject import Endpoint, Node, TrialContext
from chaos_eval.subjects.noop import NoopSubject

MiB = 1 << 20
KEY = "0123456789abcdef0123456789abcdef"
CTX = TrialContext(campaign_id=1, trial_key=KEY, seed=7)
EP = (Endpoint("client", "127.0.0.1", 32768),)
N = tuple(
    Node(f"etcd{i}", "etcd", f"cid{i}", f"172.20.0.{i + 1}", EP, (2380,),
         f"p_etcd{i}-data", "/data")
    for i in (1, 2, 3)
)
TMPFS = VolumeInfo("v", "local", {"type": "tmpfs", "device": "tmpfs", "o": "size=256m"})


@pytest.mark.parametrize(
    "bad",
    [{}, {"fill_percent": 50, "fill_bytes": 10}, {"fill_percent": 1}, {"fill_percent": 100.5},
     {"fill_percent": 0}, {"fill_bytes": 0}, {"fill_bytes": -5}, {"fill_percent": float("nan")},
     {"fill_percent": 90, "path": "/"}],
)
def test_params_need_exactly_one_valid_amount(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DiskPressureParams.model_validate(bad)


def test_params_accept_either() -> None:
    assert DiskPressureParams.model_validate({"fill_percent": 100}).fill_percent == 100
    assert DiskPressureParams.model_validate({"fill_percent": 1.5}).fill_bytes is None
    assert DiskPressureParams.model_validate({"fill_bytes": 4096}).fill_bytes == 4096


def test_fill_names_are_the_trial_s_and_bounded() -> None:
    names = fill_names(KEY)
    assert len(names) == MAX_FILES
    assert names[0] == f"{FILL_PREFIX}0123456789ab-0" and names[-1].endswith(f"-{MAX_FILES - 1}")
    for bad in ("", "../x", "a b", "k" * 65):
        with pytest.raises(ParameterError):
            fill_names(bad)


def test_argv_names_exact_files_only() -> None:
    name = fill_names(KEY)[2]
    assert fallocate_argv(name, 4096) == ("fallocate", "-l", "4096", f"/target/{name}")
    rm = remove_argv(fill_names(KEY))
    assert rm[:3] == ("rm", "-f", "--") and len(rm) == 3 + MAX_FILES
    assert not any("*" in a or "?" in a for a in rm)  # no glob, nothing beyond our names
    for bad_name in ("etcd", "../etc/passwd", f"{FILL_PREFIX}*", f"/target/{name}"):
        with pytest.raises(ParameterError):
            fallocate_argv(bad_name, 1)
    with pytest.raises(ParameterError):
        fallocate_argv(name, 0)
    assert topup_argv(name, 4097) == ("dd", "if=/dev/zero", f"of=/target/{name}", "bs=4096",
                                      "count=2", "status=none")
    with pytest.raises(ParameterError):
        topup_argv("x", 4096)
    with pytest.raises(ParameterError):
        remove_argv(())


def test_goal_for_a_percentage_and_for_bytes() -> None:
    usage = VolumeUsage(256 * MiB, 134 * MiB)
    assert goal_avail(100, None, usage) == 0
    assert goal_avail(90, None, usage) == int(256 * MiB * 0.1)
    assert goal_avail(None, 4 * MiB, usage) == 130 * MiB
    assert goal_avail(None, 1 << 30, usage) == 0  # at most what is free
    with pytest.raises(FaultError, match=r"already 47\.7% used"):
        goal_avail(40, None, usage)
    with pytest.raises(FaultError, match="already full"):
        goal_avail(None, 1, VolumeUsage(256 * MiB, 0))
    with pytest.raises(ParameterError):
        goal_avail(None, None, usage)


def test_size_option() -> None:
    assert size_option("size=256m") == 256 * MiB
    assert size_option("uid=0,size=1G,mode=1777") == 1 << 30
    assert size_option("size=4096") == 4096
    assert size_option("size=50%") is None  # relative to RAM: not a bound we can check
    assert size_option("mode=1777") is None and size_option("") is None


@pytest.mark.parametrize(
    ("info", "refused"),
    [
        (TMPFS, None),
        (VolumeInfo("v", "local", {"type": "ext4", "device": "/dev/loop7"}), None),
        (None, "does not exist"),
        (VolumeInfo("v", "local", {}), "directory on the host's disk"),
        (VolumeInfo("v", "local", {"type": "none", "device": "/srv", "o": "bind"}), "host's"),
        (VolumeInfo("v", "local", {"type": "none", "device": "/dev/sda1", "o": "bind"}), "host"),
        (VolumeInfo("v", "local", {"type": "tmpfs", "device": "tmpfs", "o": "size=50%"}), "RAM"),
        (VolumeInfo("v", "local", {"type": "tmpfs", "device": "tmpfs"}), "RAM"),
        (VolumeInfo("v", "nfs-plugin", {}), "driver"),
    ],
)
def test_confinement(info: VolumeInfo | None, refused: str | None) -> None:
    problem = confinement_problem("v", info)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem


def test_enospc_line_is_the_last_one() -> None:
    logs = ("I | etcdserver: ready\n"
            "C | mvcc/backend: cannot commit tx (write /data/etcd/member/snap/db: no space "
            "left on device)\n")
    assert enospc_line(logs).startswith("C | mvcc/backend: cannot commit tx")
    assert enospc_line("all fine\n") == ""


def test_fault_shape_and_undo_plan() -> None:
    fault = DiskPressureFault(DiskPressureParams(fill_percent=100), N[:1], N, CTX, Docker())
    assert isinstance(fault, Fault) and isinstance(fault, BaselineAware)
    assert fault.describe() == "disk_pressure fill to 100% used on etcd1"
    plan = fault.undo_plan()
    assert [(a.op, a.container, a.volume) for a in plan] == [
        (UndoOp.VOLUME_RUN, "cid1", "p_etcd1-data"), (UndoOp.START_CONTAINER, "cid1", None)]
    assert plan[0].argv == remove_argv(fill_names(KEY))


def test_fault_needs_a_data_volume() -> None:
    bare = (Node("etcd1", "etcd", "cid1", "172.20.0.2", EP, (2380,)),)
    with pytest.raises(FaultError, match="no data volume"):
        DiskPressureFault(DiskPressureParams(fill_bytes=1), bare, N, CTX, Docker())
    with pytest.raises(FaultError, match="no targets"):
        DiskPressureFault(DiskPressureParams(fill_bytes=1), (), N, CTX, Docker())


class Hooked:
    """A subject with the DiskFullAware power; records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def disk_fill_baseline(self, targets: tuple[Node, ...]) -> object:
        return "base"

    async def disk_fill_effects(self, node: Node, endpoint: Endpoint) -> dict[str, str]:
        self.asked.append(f"{node.name}@{endpoint.port}")
        return {"endpoint": "answered", "errors": "[]"}

    async def after_disk_fill(self, baseline: object) -> None: ...

    async def disk_fill_leftovers(self, baseline: object) -> tuple[str, ...]:
        return ()


@dataclass
class Info:
    status: str
    running: bool
    exit_code: int = 0


class StoppedDocker:
    """inspect/logs of a member ENOSPC stopped."""

    async def inspect(self, cid: str) -> Info:
        return Info("exited", False, 1)

    async def logs(self, cid: str) -> str:
        return "C | mvcc/backend: cannot commit tx: no space left on device\n"


class Tracker:
    def __init__(self, ep: Endpoint | None) -> None:
        self.ep = ep

    async def current(self) -> Endpoint | None:
        return self.ep


def test_the_subject_hook_is_used_only_when_the_subject_has_it() -> None:
    params = DiskPressureParams(fill_bytes=1)
    hooked_ctx = replace(CTX, subject=Hooked())  # type: ignore[arg-type]
    hooked = DiskPressureFault(params, N[:1], N, hooked_ctx, Docker())
    assert isinstance(hooked._subject, Hooked)
    plain = DiskPressureFault(params, N[:1], N, replace(CTX, subject=NoopSubject(CTX)),
                              Docker())
    assert plain._subject is None
    assert DiskPressureFault(params, N[:1], N, CTX, Docker())._subject is None


async def test_member_record_asks_the_hook_for_the_endpoint() -> None:
    hook = Hooked()
    docker, tracker = StoppedDocker(), Tracker(EP[0])
    rec = await member_state(docker, N[0], tracker, hook, 1.0)  # type: ignore[arg-type]
    assert rec == {"container": "exited", "exit_code": "1",
                   "enospc": "C | mvcc/backend: cannot commit tx: no space left on device",
                   "endpoint": "answered", "errors": "[]"}
    assert hook.asked == ["etcd1@32768"]
    gone = await member_state(docker, N[0], Tracker(None), hook, 1.0)  # type: ignore[arg-type]
    assert gone["endpoint"] == "not published" and hook.asked == ["etcd1@32768"]
