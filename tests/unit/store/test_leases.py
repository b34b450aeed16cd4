"""The one lease liveness test (eval/store/leases.py): a fresh heartbeat and a holder not
known dead; and the runner's lease (eval/run/lease.py) over a real store."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chaos_eval.errors import LeaseHeldError
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.run.lease import CampaignLease
from chaos_eval.store.leases import (
    LEASE_STALE_S,
    heartbeat_fresh,
    holder_is_dead,
    lease_is_live,
    pid_alive,
)
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store
from tests.unit.store.test_store import new_campaign

HOST = socket.gethostname()
NOW = 1_000_000.0


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def row(*, beat: float | None, pid: int | None = None, host: str | None = HOST) -> CampaignRow:
    return CampaignRow(
        id=1, uid="u", name="c", spec_hash="h", spec_json="{}", config_path="c.yaml",
        status=CampaignStatus.RUNNING, reason="", seed=1, harness_version="t", git_sha="x",
        argv="[]", created_at=0.0, updated_at=0.0, finished_at=None, lease_token="t",
        lease_pid=pid, lease_host=host, lease_heartbeat=beat, rerun_of=None,
    )


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())


def test_heartbeat_freshness_is_strict_at_the_window() -> None:
    assert heartbeat_fresh(row(beat=NOW - LEASE_STALE_S + 0.1), NOW)
    assert not heartbeat_fresh(row(beat=NOW - LEASE_STALE_S), NOW)
    assert not heartbeat_fresh(row(beat=None), NOW)
    assert heartbeat_fresh(row(beat=NOW - 5), NOW, stale_after_s=6)


@pytest.mark.parametrize(
    ("beat", "pid", "host", "live"),
    [
        (NOW - 1, "me", HOST, True),  # fresh, holder alive here
        (NOW - 1, "dead", HOST, False),  # fresh, but its holder on this host is gone
        (NOW - 1, "dead", "elsewhere", True),  # another host's pid cannot be checked
        (NOW - 1, None, HOST, True),  # no pid recorded: the heartbeat decides
        (NOW - LEASE_STALE_S - 1, "me", HOST, False),  # stale
        (None, "me", HOST, False),  # never beat
    ],
)
def test_lease_is_live(beat: float | None, pid: str | None, host: str, live: bool) -> None:
    pids = {"me": os.getpid(), "dead": dead_pid(), None: None}
    c = row(beat=beat, pid=pids[pid], host=host)
    assert lease_is_live(c, NOW) is live
    assert holder_is_dead(c) is (pid == "dead" and host == HOST)


async def test_runner_lease_takes_over_a_dead_holder_and_refuses_a_live_one(
    tmp_path: Path,
) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid = await new_campaign(store)
        pid = dead_pid()
        assert await store.acquire_lease(cid, token="x", pid=pid, host=HOST, stale_after_s=30) \
            is None
        mine = CampaignLease(store, cid, "mine")
        await mine.acquire()  # the holder's heartbeat is fresh, but its process is gone
        kinds = [e.kind for e in await store.events(cid)]
        assert kinds[-2:] == ["lease_holder_dead", "lease_taken_over"]
        c = await store.campaign(cid)
        assert (c.lease_token, c.lease_pid) == ("mine", os.getpid())
        with pytest.raises(LeaseHeldError, match=f"campaign {cid} is being run by pid"):
            await CampaignLease(store, cid, "other").acquire()
        await mine.release()
        c = await store.campaign(cid)
        assert dataclasses.astuple(c)[15:19] == (None, None, None, None)
