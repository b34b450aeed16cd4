"""etcd's DiskFullAware hook without Docker or etcd: the alarm API's bodies, and the hook's
record / disarm / leftovers against a fake gateway."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from chaos_eval.errors import CleanupError, ParameterError
from chaos_eval.subject import DiskFullAware, Endpoint, Node
from chaos_eval.subjects.etcd import disk
from chaos_eval.subjects.etcd.disk import (
    ALARM_PATH,
    EtcdDiskFull,
    NospaceBaseline,
    alarm_body,
    member_id_of,
    new_nospace,
    parse_alarms,
)
from chaos_eval.subjects.etcd.gateway import STATUS_PATH

EP = {i: Endpoint("client", "127.0.0.1", 32000 + i) for i in (1, 2, 3)}
N = tuple(Node(f"etcd{i}", "etcd", f"cid{i}", f"172.20.0.{i + 1}", (EP[i],)) for i in (1, 2, 3))


def test_alarm_bodies_and_parsing() -> None:
    assert alarm_body("GET") == {"action": "GET"}
    assert alarm_body("DEACTIVATE", 0x9E27312BF92F386, "NOSPACE") == {
        "action": "DEACTIVATE", "memberID": str(0x9E27312BF92F386), "alarm": "NOSPACE"}
    with pytest.raises(ParameterError):
        alarm_body("DROP")
    with pytest.raises(ParameterError):
        alarm_body("ACTIVATE", 1, "FULL")
    doc = {"header": {}, "alarms": [{"memberID": "12", "alarm": "NOSPACE"},
                                    {"memberID": "7", "alarm": "CORRUPT"}]}
    assert parse_alarms(doc) == ((7, "CORRUPT"), (12, "NOSPACE"))
    assert parse_alarms({"header": {}}) == ()
    assert member_id_of({"header": {"member_id": "42"}}) == 42
    assert member_id_of({}) is None



def test_new_nospace_is_ours_and_new() -> None:
    armed = [(1, "NOSPACE"), (2, "NOSPACE"), (3, "CORRUPT")]
    assert new_nospace(armed, {1, 2, 3}, [(2, "NOSPACE")]) == [(1, "NOSPACE")]
    assert new_nospace(armed, {2}, None) == [(2, "NOSPACE")]


class FakeEtcd(EtcdDiskFull):
    """`nodes()` and a gateway answering through `disk._post`: member i has id 100 + i."""

    def __init__(self, nodes: tuple[Node, ...], alarms: list[tuple[int, str]]) -> None:
        self._nodes, self.alarms = nodes, alarms
        self.posts: list[tuple[str, Mapping[str, object]]] = []

    async def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    async def post(self, url: str, body: Mapping[str, object]) -> dict[str, Any] | None:
        self.posts.append((url, body))
        port = int(url.split(":")[2].split("/")[0])
        if url.endswith(STATUS_PATH):
            return {"header": {"member_id": str(100 + port - 32000)}, "errors": ["NOSPACE"]}
        assert url.endswith(ALARM_PATH)
        if body["action"] == "DEACTIVATE":
            self.alarms.remove((int(str(body["memberID"])), "NOSPACE"))
            return {}
        return {"alarms": [{"memberID": str(m), "alarm": a} for m, a in self.alarms]}


async def test_hook_records_disarms_only_its_own_and_lists_leftovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    etcd = FakeEtcd(N, [(103, "NOSPACE")])  # armed before the fill: never touched
    monkeypatch.setattr(disk, "_post", etcd.post)
    assert isinstance(etcd, DiskFullAware)
    base = await etcd.disk_fill_baseline(N[:1])
    assert base == NospaceBaseline(frozenset({101}), ((103, "NOSPACE"),))
    effects = await etcd.disk_fill_effects(N[0], EP[1])
    assert effects == {"endpoint": "answered", "errors": '["NOSPACE"]'}
    etcd.alarms.append((101, "NOSPACE"))  # raised by the fill
    assert await etcd.disk_fill_leftovers(base) == ("NOSPACE still armed for ['65']",)
    await etcd.after_disk_fill(base)
    assert etcd.alarms == [(103, "NOSPACE")]
    assert await etcd.disk_fill_leftovers(base) == ()
    await etcd.after_disk_fill(base)  # idempotent
    assert await etcd.disk_fill_leftovers(object()) == ()  # not its record: nothing


async def test_hook_with_no_member_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    async def silent(url: str, body: Mapping[str, object]) -> None:
        return None

    etcd = FakeEtcd(N, [])
    monkeypatch.setattr(disk, "_post", silent)
    base = await etcd.disk_fill_baseline(N)
    assert base == NospaceBaseline(frozenset(), None)
    assert await etcd.disk_fill_effects(N[0], EP[1]) == {"endpoint": "no answer"}
    await etcd.after_disk_fill(NospaceBaseline(frozenset({101}), None))  # logs, no raise
    assert await etcd.disk_fill_leftovers(base) == ()


async def test_hook_raises_when_an_alarm_cannot_be_disarmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    etcd = FakeEtcd(N, [(101, "NOSPACE")])

    async def no_deactivate(url: str, body: Mapping[str, object]) -> dict[str, Any] | None:
        return None if body.get("action") == "DEACTIVATE" else await etcd.post(url, body)

    monkeypatch.setattr(disk, "_post", no_deactivate)
    with pytest.raises(CleanupError, match="member 65"):
        await etcd.after_disk_fill(NospaceBaseline(frozenset({101}), ()))
