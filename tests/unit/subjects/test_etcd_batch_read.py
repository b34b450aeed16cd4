"""etcd's batch read: the paged range's bodies and strict parse (pure), and EtcdKVClient.get_many
against a mock gateway that pages, keeps old revisions, and fails on demand."""

from __future__ import annotations

import json

import httpx
import pytest

from chaos_eval.outcomes import OpOutcome
from chaos_eval.subjects.etcd.batch_read import (
    PAGE_LIMIT,
    key_after,
    key_span,
    page_body,
    parse_page,
)
from chaos_eval.subjects.etcd.client import EtcdKVClient
from chaos_eval.subjects.etcd.gateway import GatewayParseError, b64, unb64
from chaos_eval.workload import BatchReadClient

CID = "17824767563539669245"


def answer(revision: int, kvs: list[tuple[str, str]], more: bool = False) -> str:
    doc: dict[str, object] = {"header": {"cluster_id": CID, "revision": str(revision)}}
    if kvs:  # proto3 JSON omits empty lists, false booleans and empty values
        doc["kvs"] = [{"key": b64(k), **({"value": b64(v)} if v else {}),
                       "mod_revision": "2"} for k, v in kvs]
        doc["count"] = str(len(kvs))
    if more:
        doc["more"] = True
    return json.dumps(doc)


def test_span_and_bodies() -> None:
    assert key_after("p/1") == "p/1\x00" and key_after("p/1") > "p/1"
    assert key_span(["p/3", "p/1", "p/2"]) == ("p/1", "p/3\x00")
    first = page_body("p/1", "p/3\x00", revision=0)
    assert first == {"key": b64("p/1"), "range_end": b64("p/3\x00"), "limit": str(PAGE_LIMIT),
                     "serializable": False}
    assert page_body("p/2", "p/3\x00", revision=41, limit=2)["revision"] == "41"


def test_parse_page_reads_kvs_in_order_with_empty_values() -> None:
    page = parse_page(answer(7, [("p/1", "v1"), ("p/2", "")], more=True), "p/1", "p/3")
    assert (page.revision, page.kvs, page.more) == (7, (("p/1", "v1"), ("p/2", "")), True)
    empty = parse_page(answer(7, []), "p/1", "p/3")
    assert (empty.kvs, empty.more) == ((), False)


@pytest.mark.parametrize("raw", [
    "not json",
    "[]",
    '{"kvs": []}',  # no header
    '{"header": {"cluster_id": "1"}}',  # no revision
    '{"header": {"revision": "x"}}',
    '{"header": {"revision": "0"}}',
    '{"header": {"revision": "3"}, "kvs": {}}',
    '{"header": {"revision": "3"}, "kvs": ["a"]}',
    '{"header": {"revision": "3"}, "kvs": [{"key": "!!!"}]}',  # not base64
    '{"header": {"revision": "3"}, "kvs": [{"key": 5}]}',
    answer(3, [("p/2", "a"), ("p/1", "b")]),  # out of order
    answer(3, [("p/1", "a"), ("p/1", "b")]),  # repeated
    answer(3, [("q/1", "a")]),  # outside the range
    answer(3, [("p/0", "a")]),  # before the range
    '{"header": {"revision": "3"}, "more": "yes"}',
    answer(3, [], more=True),  # more follows an empty page: no way to go on
])
def test_parse_page_is_strict(raw: str) -> None:
    with pytest.raises(GatewayParseError):
        parse_page(raw, "p/1", "p/3")


class MockEtcd:
    """A member's range endpoint: `history[rev]` is the store at each revision, the current
    one last; pages of `page` keys; `fail_at`: the request number answered 503."""

    def __init__(self, history: dict[int, dict[str, str]], page: int, fail_at: int = -1,
                 raw: str | None = None) -> None:
        self.history, self.page, self.fail_at, self.raw = history, page, fail_at, raw
        self.bodies: list[dict[str, str]] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        self.bodies.append(body)
        assert req.url.path == "/v3/kv/range" and body["serializable"] is False
        if len(self.bodies) - 1 == self.fail_at:
            return httpx.Response(503, text='{"error":"etcdserver: request timed out"}')
        if self.raw is not None:
            return httpx.Response(200, text=self.raw)
        current = max(self.history)
        rev = int(body.get("revision", current))
        lo, hi = unb64(body["key"]), unb64(body["range_end"])
        keys = sorted(k for k in self.history[rev] if lo <= k < hi)
        kvs = [(k, self.history[rev][k]) for k in keys[:self.page]]
        more = len(keys) > self.page
        if len(self.bodies) == 1:  # a write lands after the first page: later pages must
            self.history[current + 1] = {**self.history[current], "p/3": "late", "p/9": "x"}
        return httpx.Response(200, text=answer(current, kvs, more))


def client(mock: MockEtcd) -> EtcdKVClient:
    c = EtcdKVClient("http://127.0.0.1:1", 1.0)
    c._http = httpx.AsyncClient(transport=httpx.MockTransport(mock))
    return c


async def test_get_many_pages_at_the_first_revision() -> None:
    # p/1 present, p/2 lost, p/3 absent at the read's revision (written later), p/5 holds a
    # value (the workload judges it), p/4 is in the span but was not asked for
    store = {"p/1": "v1", "p/4": "v4", "p/5": "other"}
    mock = MockEtcd({5: dict(store)}, page=1)
    c = client(mock)
    assert isinstance(c, BatchReadClient)
    res = await c.get_many(["p/1", "p/2", "p/3", "p/5"])
    assert res.outcome == OpOutcome.OK
    assert dict(res.values) == {"p/1": "v1", "p/2": None, "p/3": None, "p/5": "other"}
    assert [b.get("revision") for b in mock.bodies] == [None, "5", "5"]
    assert [unb64(b["key"]) for b in mock.bodies] == ["p/1", "p/1\x00", "p/4\x00"]
    assert {unb64(b["range_end"]) for b in mock.bodies} == {"p/5\x00"}
    assert {b["limit"] for b in mock.bodies} == {str(PAGE_LIMIT)}
    await c.aclose()


@pytest.mark.parametrize(("mock", "error"), [
    (MockEtcd({5: {"p/1": "a", "p/2": "b"}}, page=1, fail_at=1), "server_timeout"),
    (MockEtcd({5: {}}, page=1, fail_at=0), "server_timeout"),
    (MockEtcd({5: {}}, page=1, raw=answer(5, [("q/1", "a")])), "bad_response"),
])
async def test_get_many_fails_the_whole_batch(mock: MockEtcd, error: str) -> None:
    c = client(mock)
    res = await c.get_many(["p/1", "p/2"])
    assert (res.outcome, res.error, dict(res.values)) == (OpOutcome.FAIL, error, {})


async def test_get_many_of_nothing_sends_nothing() -> None:
    mock = MockEtcd({5: {}}, page=1)
    res = await client(mock).get_many([])
    assert (res.outcome, mock.bodies) == (OpOutcome.OK, [])
