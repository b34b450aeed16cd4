"""The etcd v3 JSON gateway: parsing real-shaped responses and mapping errors to outcomes."""

from __future__ import annotations

import httpx
import pytest

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.errors import ParameterError
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import TrialContext
from chaos_eval.subjects.etcd.client import EtcdKVClient, classify_exception
from chaos_eval.subjects.etcd.gateway import (
    GatewayParseError,
    b64,
    classify_error,
    parse_members,
    parse_range_value,
    parse_status,
    put_body,
    range_body,
    response_cluster_id,
    unb64,
)
from chaos_eval.subjects.etcd.subject import MIN_DATA_MB, EtcdSubject

STATUS = (
    '{"header":{"cluster_id":"17824767563539669245","member_id":"7513440092974897589",'
    '"revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480",'
    '"leader":"2076196165827678046","raftIndex":"8","raftTerm":"2","raftAppliedIndex":"8",'
    '"dbSizeInUse":"16384"}'
)
STATUS_NO_LEADER = (
    '{"header":{"cluster_id":"17824767563539669245","member_id":"2220760491411425458",'
    '"revision":"3","raft_term":"2"},"version":"3.4.23","dbSize":"32768","raftIndex":"11",'
    '"raftTerm":"2","raftAppliedIndex":"11","errors":["etcdserver: no leader"],'
    '"dbSizeInUse":"16384"}'
)
MEMBERS = (
    '{"header":{"cluster_id":"17824767563539669245","member_id":"2220760491411425458",'
    '"raft_term":"2"},"members":[{"ID":"2076196165827678046","name":"etcd2","peerURLs":'
    '["http://etcd2:2380"],"clientURLs":["http://etcd2:2379"]},{"ID":"2220760491411425458",'
    '"name":"etcd1","peerURLs":["http://etcd1:2380"],"clientURLs":["http://etcd1:2379"]},'
    '{"ID":"4906947251767665264","peerURLs":["http://etcd3:2380"]}]}'
)
RANGE_HIT = (
    '{"header":{"cluster_id":"17824767563539669245","member_id":"2220760491411425458",'
    '"revision":"3","raft_term":"2"},"kvs":[{"key":"a2lsbA==","create_revision":"3",'
    '"mod_revision":"3","version":"1","value":"c3Vydml2ZQ=="}],"count":"1"}'
)
RANGE_MISS = (
    '{"header":{"cluster_id":"17824767563539669245","member_id":"2220760491411425458",'
    '"revision":"2","raft_term":"2"}}'
)
TIMED_OUT = (
    '{"error":"etcdserver: request timed out","message":"etcdserver: request timed out",'
    '"code":14}'
)
DEADLINE = '{"error":"context deadline exceeded","message":"context deadline exceeded","code":2}'
NO_LEADER = '{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}'
NO_SPACE = '{"error":"etcdserver: mvcc: database space exceeded","code":8}'
NO_KEY = (
    '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided",'
    '"code":3}'
)


def test_parse_status_reads_64bit_ids_from_strings() -> None:
    s = parse_status(STATUS)
    assert s.cluster_id == 17824767563539669245
    assert s.member_id == 7513440092974897589
    assert s.leader == 2076196165827678046
    assert (s.raft_term, s.raft_index, s.applied_index) == (2, 8, 8)
    assert (s.revision, s.db_size, s.version, s.errors) == (1, 20480, "3.4.23", ())
    assert s.summary()["leader"] == "2076196165827678046"


def test_parse_status_without_leader() -> None:
    s = parse_status(STATUS_NO_LEADER)
    assert s.leader == 0
    assert s.errors == ("etcdserver: no leader",)


@pytest.mark.parametrize("raw", ["not json", "[]", '{"version":"3.4.23"}',
                                 '{"header":{"member_id":"x"}}'])
def test_parse_status_rejects_foreign_shapes(raw: str) -> None:
    with pytest.raises(GatewayParseError):
        parse_status(raw)


def test_parse_members_names_by_id_and_unnamed_by_id() -> None:
    assert parse_members(MEMBERS) == {
        2076196165827678046: "etcd2",
        2220760491411425458: "etcd1",
        4906947251767665264: "4906947251767665264",  # not started yet: no name
    }
    with pytest.raises(GatewayParseError):
        parse_members('{"header":{}}')


def test_range_value_hit_and_miss() -> None:
    assert parse_range_value(RANGE_HIT, "kill") == "survive"
    assert parse_range_value(RANGE_MISS, "kill") is None
    assert parse_range_value(RANGE_HIT, "other") is None
    with pytest.raises(GatewayParseError):
        parse_range_value(TIMED_OUT, "kill")


def test_bodies_are_base64_and_reads_default_linearizable() -> None:
    assert put_body("kill", "survive") == {"key": "a2lsbA==", "value": "c3Vydml2ZQ=="}
    assert range_body("kill", linearizable=True) == {"key": "a2lsbA==", "serializable": False}
    assert range_body("kill", linearizable=False)["serializable"] is True
    assert unb64(b64("/chaos-eval/probe ü")) == "/chaos-eval/probe ü"


def test_cluster_id_of_responses() -> None:
    assert response_cluster_id(RANGE_MISS) == 17824767563539669245
    assert response_cluster_id(TIMED_OUT) is None
    assert response_cluster_id(b"<html>") is None


@pytest.mark.parametrize(
    ("status", "body", "write", "want"),
    [
        (503, TIMED_OUT, True, (OpOutcome.UNKNOWN, "server_timeout")),
        (500, DEADLINE, True, (OpOutcome.UNKNOWN, "deadline")),
        (503, NO_LEADER, True, (OpOutcome.FAIL, "no_leader")),
        (429, NO_SPACE, True, (OpOutcome.FAIL, "no_space")),
        (400, NO_KEY, True, (OpOutcome.FAIL, "bad_request")),
        (400, '{"error":"something new","code":3}', True, (OpOutcome.FAIL, "bad_request")),
        (502, "Bad Gateway", True, (OpOutcome.UNKNOWN, "http_502")),
        (503, '{"error":"something new","code":14}', True, (OpOutcome.UNKNOWN, "http_503")),
        # reads have no side effects: every failed read is FAIL
        (503, TIMED_OUT, False, (OpOutcome.FAIL, "server_timeout")),
        (502, b"Bad Gateway", False, (OpOutcome.FAIL, "http_502")),
    ],
)
def test_classify_error(status: int, body: str, write: bool, want: tuple[OpOutcome, str]) -> None:
    assert classify_error(status, body, write=write) == want


REQ = httpx.Request("POST", "http://127.0.0.1:1/v3/kv/put")


@pytest.mark.parametrize(
    ("exc", "write_want", "read_want"),
    [
        (httpx.ConnectError("refused", request=REQ), OpOutcome.FAIL, "refused"),
        (httpx.ConnectTimeout("t", request=REQ), OpOutcome.FAIL, "connect_timeout"),
        (httpx.ReadTimeout("t", request=REQ), OpOutcome.UNKNOWN, "timeout"),
        (httpx.WriteTimeout("t", request=REQ), OpOutcome.UNKNOWN, "timeout"),
        (httpx.ReadError("reset", request=REQ), OpOutcome.UNKNOWN, "reset"),
        (httpx.RemoteProtocolError("gone", request=REQ), OpOutcome.UNKNOWN, "reset"),
    ],
)
def test_classify_exception(exc: httpx.HTTPError, write_want: OpOutcome, read_want: str) -> None:
    assert classify_exception(exc, write=True) == (write_want, read_want)
    assert classify_exception(exc, write=False) == (OpOutcome.FAIL, read_want)


def _client(handler: httpx.MockTransport, **kw: object) -> EtcdKVClient:
    c = EtcdKVClient("http://127.0.0.1:1", 1.0, **kw)  # type: ignore[arg-type]
    c._http = httpx.AsyncClient(transport=handler)
    return c


async def test_client_put_get_through_a_mock_gateway() -> None:
    store: dict[str, str] = {}

    def handle(req: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(req.content)
        if req.url.path == "/v3/kv/put":
            store[body["key"]] = body["value"]
            return httpx.Response(200, text=RANGE_MISS)
        assert req.url.path == "/v3/kv/range" and body["serializable"] is False
        if body["key"] in store:
            return httpx.Response(200, text=RANGE_HIT.replace("c3Vydml2ZQ==", store[body["key"]]))
        return httpx.Response(200, text=RANGE_MISS)

    c = _client(httpx.MockTransport(handle))
    assert await c.put("kill", "again") == (OpOutcome.OK, "")
    res = await c.get("kill")
    assert (res.outcome, res.value) == (OpOutcome.OK, "again")
    assert (await c.get("absent")).value is None
    await c.aclose()
    await c.aclose()  # idempotent


async def test_client_rejects_a_foreign_cluster_and_re_resolves() -> None:
    foreign = RANGE_MISS.replace("17824767563539669245", "1")
    resolved: list[int] = []

    async def resolve() -> str | None:
        resolved.append(1)
        return "http://127.0.0.1:2"

    c = _client(httpx.MockTransport(lambda req: httpx.Response(200, text=foreign)),
                resolve=resolve, cluster_id=17824767563539669245)
    assert await c.put("k", "v") == (OpOutcome.FAIL, "wrong_cluster")
    assert resolved and c.base_url == "http://127.0.0.1:2"


async def test_client_maps_gateway_errors_and_refusals() -> None:
    def handle(req: httpx.Request) -> httpx.Response:
        if req.url.port == 1:
            raise httpx.ConnectError("refused", request=req)
        return httpx.Response(503, text=TIMED_OUT)

    async def resolve() -> str | None:
        return "http://127.0.0.1:2"  # the member came back on another port

    c = _client(httpx.MockTransport(handle), resolve=resolve)
    assert await c.put("k", "v") == (OpOutcome.FAIL, "refused")
    assert c.base_url == "http://127.0.0.1:2"
    assert await c.put("k", "v") == (OpOutcome.UNKNOWN, "server_timeout")
    res = await c.get("k")
    assert (res.outcome, res.error) == (OpOutcome.FAIL, "server_timeout")


def test_data_mb_below_wal_preallocation_is_rejected() -> None:
    ctx = TrialContext(1, "0123456789abcdef", 0)
    with pytest.raises(ParameterError, match="data_mb=64"):
        EtcdSubject(ctx, Docker(), Compose(base=()), image="x", data_mb=64)
    subject = EtcdSubject(ctx, Docker(), Compose(base=()), image="x", data_mb=MIN_DATA_MB)
    assert subject.env["CHAOS_EVAL_DATA_MB"] == str(MIN_DATA_MB)
    assert subject.project == "ce1-0123456789ab"
    assert subject.env["CHAOS_EVAL_TOKEN"] != EtcdSubject(ctx, Docker(), Compose(base=()),
                                                          image="x").env["CHAOS_EVAL_TOKEN"]


def test_cas_body_compares_value_or_absence_then_puts() -> None:
    from chaos_eval.subjects.etcd.gateway import b64, cas_body

    body = cas_body("k", "old", "new")
    assert body["compare"] == [
        {"key": b64("k"), "result": "EQUAL", "target": "VALUE", "value": b64("old")}]
    assert body["success"] == [{"request_put": {"key": b64("k"), "value": b64("new")}}]
    absent = cas_body("k", None, "new")
    assert absent["compare"] == [
        {"key": b64("k"), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}]


def test_txn_succeeded_is_false_when_omitted() -> None:
    from chaos_eval.subjects.etcd.gateway import GatewayParseError, parse_txn_succeeded

    assert parse_txn_succeeded('{"header": {"cluster_id": "1"}, "succeeded": true}') is True
    assert parse_txn_succeeded('{"header": {"cluster_id": "1"}}') is False
    with pytest.raises(GatewayParseError):
        parse_txn_succeeded('{"succeeded": true}')
