"""RESP2, the Redis wire protocol, as pure functions: encode a command, parse a reply from a
buffer, read the answers of INFO replication, ROLE and SENTINEL, and map an error reply to an
operation outcome.

Replies are plain values: simple and bulk strings are `str` (UTF-8, undecodable bytes
replaced), integers `int`, a null bulk string or null array `None`, arrays `list`, and an
error reply an `ErrorReply` value (not an exception: a Redis error is an answer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos_eval.outcomes import OpOutcome

CRLF = b"\r\n"
MAX_BULK = 64 * 1024 * 1024  # a bulk string longer than this is a protocol error here


class RespProtocolError(ValueError):
    """Bytes that are not RESP2, or a reply not shaped as the command documents."""


@dataclass(frozen=True)
class ErrorReply:
    """A `-PREFIX message` reply: the command was refused."""

    message: str

    @property
    def prefix(self) -> str:
        """The error code: the first word, e.g. READONLY, NOAUTH, ERR."""
        return self.message.split(" ", 1)[0] if self.message else ""


Reply = str | int | None | list["Reply"] | ErrorReply


def encode_command(*args: str | int | bytes) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _line(buf: bytes, pos: int) -> tuple[bytes, int] | None:
    end = buf.find(CRLF, pos)
    if end < 0:
        return None
    return buf[pos:end], end + 2


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise RespProtocolError(f"not an integer: {raw[:40]!r}") from None


def parse_reply(buf: bytes, pos: int = 0) -> tuple[Reply, int] | None:
    """Parse one reply starting at `pos`: (value, position after it), or None when `buf`
    does not hold a complete reply yet. Raises RespProtocolError on malformed input."""
    got = _line(buf, pos)
    if got is None:
        return None
    line, nxt = got
    if not line:
        raise RespProtocolError("empty reply line")
    kind, body = line[:1], line[1:]
    if kind == b"+":
        return body.decode("utf-8", "replace"), nxt
    if kind == b"-":
        return ErrorReply(body.decode("utf-8", "replace")), nxt
    if kind == b":":
        return _int(body), nxt
    if kind == b"$":
        size = _int(body)
        if size == -1:
            return None, nxt
        if not 0 <= size <= MAX_BULK:
            raise RespProtocolError(f"bulk length {size}")
        if len(buf) < nxt + size + 2:
            return None
        if buf[nxt + size : nxt + size + 2] != CRLF:
            raise RespProtocolError("bulk string not terminated by CRLF")
        return buf[nxt : nxt + size].decode("utf-8", "replace"), nxt + size + 2
    if kind == b"*":
        count = _int(body)
        if count == -1:
            return None, nxt
        if count < 0:
            raise RespProtocolError(f"array length {count}")
        items: list[Reply] = []
        for _ in range(count):
            got_item = parse_reply(buf, nxt)
            if got_item is None:
                return None
            item, nxt = got_item
            items.append(item)
        return items, nxt
    raise RespProtocolError(f"unknown reply type {kind!r}")


# -- INFO, ROLE, SENTINEL ----------------------------------------------------------------------


def parse_info(text: str) -> dict[str, str]:
    """`key:value` lines of an INFO reply; section headers and blank lines skipped."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value
    return out


@dataclass(frozen=True)
class ReplicaLink:
    """One replica as its primary lists it (`slaveN:ip=..,port=..,state=..,offset=..,lag=..`)."""

    host: str
    port: int
    state: str  # online | wait_bgsave | send_bulk | ...
    offset: int
    lag: int


@dataclass(frozen=True)
class Replication:
    """INFO replication of one Redis server."""

    role: str  # "master" | "slave"
    offset: int  # master_repl_offset
    replicas: tuple[ReplicaLink, ...] = ()  # a master's connected replicas
    master_host: str | None = None  # a replica's primary
    master_port: int | None = None
    link_up: bool = False  # a replica: master_link_status:up
    syncing: bool = False  # a replica: master_sync_in_progress:1

    def summary(self) -> dict[str, object]:
        d: dict[str, object] = {"role": self.role, "offset": self.offset}
        if self.role == "master":
            d["replicas"] = [f"{r.host}:{r.port} {r.state} lag={r.lag}" for r in self.replicas]
        else:
            d.update(master=self.master_host, link_up=self.link_up, syncing=self.syncing)
        return d


def _fields(raw: str) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in raw.split(",") if "=" in p)


def _num(info: Mapping[str, str], key: str, default: int = 0) -> int:
    raw = info.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RespProtocolError(f"{key}={raw!r} is not an integer") from None


def parse_replication(text: str) -> Replication:
    info = parse_info(text)
    role = info.get("role")
    if role not in ("master", "slave"):
        raise RespProtocolError(f"INFO replication without a known role: {role!r}")
    if role == "master":
        links: list[ReplicaLink] = []
        for i in range(_num(info, "connected_slaves")):
            f = _fields(info.get(f"slave{i}", ""))
            if "ip" not in f:
                continue
            links.append(ReplicaLink(
                f["ip"], _num(f, "port"), f.get("state", ""), _num(f, "offset"), _num(f, "lag")
            ))
        return Replication("master", _num(info, "master_repl_offset"), tuple(links))
    return Replication(
        "slave",
        _num(info, "master_repl_offset"),
        master_host=info.get("master_host"),
        master_port=_num(info, "master_port") if "master_port" in info else None,
        link_up=info.get("master_link_status") == "up",
        syncing=info.get("master_sync_in_progress", "0") != "0",
    )


def parse_role(reply: Reply) -> str:
    """The first element of a ROLE reply: master | slave | sentinel."""
    if isinstance(reply, list) and reply and reply[0] in ("master", "slave", "sentinel"):
        return str(reply[0])
    raise RespProtocolError(f"not a ROLE reply: {reply!r}"[:200])


def parse_master_addr(reply: Reply) -> tuple[str, int] | None:
    """SENTINEL get-master-addr-by-name: (host, port), or None when the name is unknown."""
    if reply is None:
        return None
    if (
        isinstance(reply, list)
        and len(reply) == 2
        and isinstance(reply[0], str)
        and isinstance(reply[1], str | int)
    ):
        return reply[0], _int(str(reply[1]).encode())
    raise RespProtocolError(f"not a master address: {reply!r}"[:200])


def pairs_to_dict(reply: Reply) -> dict[str, str]:
    """A flat [k1, v1, k2, v2, ...] reply (SENTINEL master NAME) as a dict."""
    if not isinstance(reply, list) or len(reply) % 2:
        raise RespProtocolError("not a flat key/value array")
    return {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply), 2)}


def majority(answers: Sequence[str | None], of: int) -> str | None:
    """The answer more than half of `of` voters gave (None answers never win)."""
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    for answer, n in counts.items():
        if n > of // 2:
            return answer
    return None


# -- errors -> outcomes --------------------------------------------------------------------------

# Redis refuses a command before running it, so an error reply to SET or GET means "did not
# happen": always FAIL. The class names the reason.
_ERROR_CLASSES: Mapping[str, str] = {
    "READONLY": "readonly",  # a replica refuses writes
    "MASTERDOWN": "masterdown",  # a replica cut off from its primary (serve-stale-data no)
    "LOADING": "loading",  # still loading its dataset after a restart
    "NOREPLICAS": "noreplicas",  # min-replicas-to-write not met
    "MISCONF": "misconf",  # a failed snapshot stops writes
    "OOM": "oom",
    "BUSY": "busy",
    "TRYAGAIN": "tryagain",
    "NOAUTH": "auth",
    "WRONGPASS": "auth",
}


def classify_error_reply(err: ErrorReply) -> tuple[OpOutcome, str]:
    """Outcome and short class of an error reply: always FAIL (nothing was executed)."""
    prefix = err.prefix
    if prefix in _ERROR_CLASSES:
        return OpOutcome.FAIL, _ERROR_CLASSES[prefix]
    if "unknown command" in err.message.lower():
        return OpOutcome.FAIL, "unsupported"
    return OpOutcome.FAIL, "err_" + (prefix.lower() or "unknown")
