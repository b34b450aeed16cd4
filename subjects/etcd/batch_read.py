"""A linearizable read of many keys at one revision over etcd's v3 JSON gateway, as pure
functions: the key span that covers the keys, each page's request body, and a strict parse of
each page (the client, subjects/etcd/client.py `get_many`, does the requests).

How it reads: one range over [smallest key, largest key + NUL), `limit` PAGE_LIMIT keys a
page (a long trial's thousands of keys stay far below the gateway's message limits). The
first page is a linearizable range at the current revision R (header.revision); every later
page asks for revision R explicitly (still linearizable) and starts just after the last key
of the page before. So every key is read in the one store state at revision R, and R was
current at an instant inside the first page's request: each key's answer is what a separate
linearizable read at that instant would have returned, which is at least as strong as one
linearizable read per key. If R is compacted between pages the gateway answers an error and
the whole batch fails (the caller then reads key by key). The span can hold keys that were
not asked for (a write recorded as failed that happened anyway); they are ignored, as the
per-key reads never looked at them either.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaos_eval.subjects.etcd.gateway import GatewayParseError, b64, load_object

PAGE_LIMIT = 500  # keys a page; ~150 bytes of JSON each


def key_after(key: str) -> str:
    """The smallest key greater than `key` (etcd orders keys by their UTF-8 bytes, which is
    the order of their code points)."""
    return key + "\x00"


def key_span(keys: Sequence[str]) -> tuple[str, str]:
    """[start, end) of the one range that covers every key in `keys` (not empty)."""
    return min(keys), key_after(max(keys))


def page_body(start: str, end: str, *, revision: int, limit: int = PAGE_LIMIT
              ) -> dict[str, object]:
    """A linearizable range over [start, end), at most `limit` keys, at `revision` (0: the
    current one)."""
    body: dict[str, object] = {"key": b64(start), "range_end": b64(end), "limit": str(limit),
                               "serializable": False}
    if revision:
        body["revision"] = str(revision)
    return body


@dataclass(frozen=True)
class Page:
    revision: int  # header.revision: for a range at the current revision, the one it read
    kvs: tuple[tuple[str, str], ...]  # (key, value) in ascending key order
    more: bool  # keys in the range remain after this page


def _text(kv: dict[str, Any], name: str) -> str:
    raw = kv.get(name, "")  # proto3 JSON omits an empty value
    if not isinstance(raw, str):
        raise GatewayParseError(f"kv {name} is not a string")
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise GatewayParseError(f"kv {name} is not base64 UTF-8: {e}") from e


def parse_page(raw: str | bytes, start: str, end: str) -> Page:
    """One /v3/kv/range response for [start, end), checked strictly: a header with a positive
    revision, kvs a list of objects whose keys ascend inside [start, end), `more` a boolean
    (omitted when false), and a page that says more follows must not be empty (the next page
    starts after its last key). Anything else raises GatewayParseError."""
    doc = load_object(raw)
    header = doc.get("header")
    if not isinstance(header, dict) or "revision" not in header:
        raise GatewayParseError("range response without header.revision")
    try:
        revision = int(header["revision"])
    except (TypeError, ValueError) as e:
        raise GatewayParseError(f"revision={header['revision']!r} is not an integer") from e
    if revision <= 0:
        raise GatewayParseError(f"revision={revision} is not positive")
    kvs = doc.get("kvs", [])
    if not isinstance(kvs, list):
        raise GatewayParseError("kvs is not a list")
    pairs: list[tuple[str, str]] = []
    for kv in kvs:
        if not isinstance(kv, dict):
            raise GatewayParseError("kv is not an object")
        key = _text(kv, "key")
        if not start <= key < end or (pairs and key <= pairs[-1][0]):
            raise GatewayParseError(f"key {key!r} out of order or outside the range")
        pairs.append((key, _text(kv, "value")))
    more = doc.get("more", False)
    if not isinstance(more, bool):
        raise GatewayParseError("more is not a boolean")
    if more and not pairs:
        raise GatewayParseError("an empty page says more follows")
    return Page(revision, tuple(pairs), more)
