"""The Redis subject's pure parts: RESP2 encoding and parsing, INFO/ROLE/SENTINEL answers,
error replies -> outcomes, and judging a cluster from its nodes' answers."""

from __future__ import annotations

import pytest

from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import Node
from chaos_eval.subjects.redis.resp import (
    ErrorReply,
    ReplicaLink,
    Replication,
    RespProtocolError,
    classify_error_reply,
    encode_command,
    majority,
    pairs_to_dict,
    parse_info,
    parse_master_addr,
    parse_replication,
    parse_reply,
    parse_role,
)
from chaos_eval.subjects.redis.view import (
    SentinelView,
    agreed_primary,
    node_for_address,
    replication_reasons,
)

# INFO replication exactly as redis-server 7.0 prints it (CRLF line ends), from the
# cluster compose/redis.yml starts.
INFO_PRIMARY = (
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=redis3,port=6379,state=online,offset=2587,lag=1\r\n"
    "slave1:ip=redis2,port=6379,state=online,offset=2573,lag=0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:d9f36129d8139d9609a71bfddbabd694de5ada83\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:2977\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:2977\r\n"
)
INFO_REPLICA = (
    "# Replication\r\nrole:slave\r\nmaster_host:redis1\r\nmaster_port:6379\r\n"
    "master_link_status:up\r\nmaster_last_io_seconds_ago:0\r\n"
    "master_sync_in_progress:0\r\nslave_read_repl_offset:2977\r\n"
    "slave_repl_offset:2977\r\nslave_priority:100\r\nslave_read_only:1\r\n"
    "replica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"
    "master_replid:d9f36129d8139d9609a71bfddbabd694de5ada83\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:2977\r\nsecond_repl_offset:-1\r\n"
)


def test_encode_command_is_an_array_of_bulk_strings() -> None:
    assert encode_command("SET", "k", "v é") == (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv \xc3\xa9\r\n"
    )
    assert encode_command("WAIT", 2, 500) == b"*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$3\r\n500\r\n"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"+OK\r\n", "OK"),
        (b":42\r\n", 42),
        (b"$5\r\nhello\r\n", "hello"),
        (b"$0\r\n\r\n", ""),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*2\r\n$6\r\nredis2\r\n$4\r\n6379\r\n", ["redis2", "6379"]),
        (b"*2\r\n*1\r\n:1\r\n+x\r\n", [[1], "x"]),
        (b"-READONLY You can't write against a read only replica.\r\n",
         ErrorReply("READONLY You can't write against a read only replica.")),
    ],
)
def test_parse_reply_values(raw: bytes, value: object) -> None:
    assert parse_reply(raw) == (value, len(raw))


def test_parse_reply_waits_for_a_complete_reply() -> None:
    whole = b"*2\r\n$6\r\nredis2\r\n$4\r\n6379\r\n+OK\r\n"
    for cut in range(len(whole) - 5):
        assert parse_reply(whole[:cut]) is None, cut
    value, used = parse_reply(whole) or (None, 0)
    assert value == ["redis2", "6379"]
    assert parse_reply(whole, used) == ("OK", len(whole))  # pipelined replies, one by one


@pytest.mark.parametrize("raw", [b"?x\r\n", b":x\r\n", b"$3\r\nabcd\r\n", b"*-2\r\n", b"\r\n"])
def test_parse_reply_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(RespProtocolError):
        parse_reply(raw)


def test_parse_info_skips_headers_and_blanks() -> None:
    info = parse_info("# Server\r\nredis_version:7.0.15\r\n\r\n# Replication\r\nrole:master\r\n")
    assert info == {"redis_version": "7.0.15", "role": "master"}


def test_parse_replication_of_a_primary() -> None:
    r = parse_replication(INFO_PRIMARY)
    assert r.role == "master" and r.offset == 2977
    assert r.replicas == (
        ReplicaLink("redis3", 6379, "online", 2587, 1),
        ReplicaLink("redis2", 6379, "online", 2573, 0),
    )


def test_parse_replication_of_a_replica() -> None:
    r = parse_replication(INFO_REPLICA)
    assert (r.role, r.master_host, r.master_port, r.link_up, r.syncing) == (
        "slave", "redis1", 6379, True, False
    )
    down = parse_replication(
        INFO_REPLICA.replace("link_status:up", "link_status:down").replace(
            "sync_in_progress:0", "sync_in_progress:1")
    )
    assert not down.link_up and down.syncing


def test_parse_replication_rejects_unknown_roles_and_bad_numbers() -> None:
    with pytest.raises(RespProtocolError):
        parse_replication("# Replication\r\nrole:sentinel\r\n")
    with pytest.raises(RespProtocolError):
        parse_replication(INFO_PRIMARY.replace("master_repl_offset:2977", "master_repl_offset:x"))


def test_role_master_addr_and_pairs() -> None:
    assert parse_role(["master", 2977, [["redis2", "6379", "2977"]]]) == "master"
    assert parse_role(["slave", "redis1", 6379, "connected", 2977]) == "slave"
    assert parse_role(["sentinel", ["mymaster"]]) == "sentinel"
    with pytest.raises(RespProtocolError):
        parse_role(ErrorReply("NOAUTH Authentication required."))
    assert parse_master_addr(["redis3", "6379"]) == ("redis3", 6379)
    assert parse_master_addr(None) is None
    with pytest.raises(RespProtocolError):
        parse_master_addr(["redis3"])
    assert pairs_to_dict(["name", "mymaster", "config-epoch", "1"])["config-epoch"] == "1"
    with pytest.raises(RespProtocolError):
        pairs_to_dict(["odd"])


def test_majority_needs_more_than_half_of_all_voters() -> None:
    assert majority(["a", "a", "b"], 3) == "a"
    assert majority(["a", None, None], 3) is None
    assert majority(["a", "a", None], 3) == "a"
    assert majority(["a", "b"], 3) is None


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ("READONLY You can't write against a read only replica.", "readonly"),
        ("LOADING Redis is loading the dataset in memory", "loading"),
        ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
         "masterdown"),
        ("NOREPLICAS Not enough good replicas to write.", "noreplicas"),
        ("NOAUTH Authentication required.", "auth"),
        ("WRONGPASS invalid username-password pair or user is disabled.", "auth"),
        ("ERR unknown command 'SET', with args beginning with: ", "unsupported"),
        ("ERR something else", "err_err"),
    ],
)
def test_error_replies_are_fail(message: str, cls: str) -> None:
    assert classify_error_reply(ErrorReply(message)) == (OpOutcome.FAIL, cls)


# -- judging the cluster ------------------------------------------------------------------------


def _nodes() -> tuple[Node, ...]:
    return (
        Node("redis1", "primary", "c1", "10.0.0.3"),
        Node("redis2", "replica", "c2", "10.0.0.2"),
        Node("redis3", "replica", "c3", "10.0.0.4"),
        Node("sentinel1", "sentinel", "c4", "10.0.0.6"),
        Node("sentinel2", "sentinel", "c5", "10.0.0.7"),
        Node("sentinel3", "sentinel", "c6", "10.0.0.5"),
    )


def test_node_for_address_by_hostname_or_ip_never_a_sentinel() -> None:
    nodes = _nodes()
    assert node_for_address("redis2", 6379, nodes) == nodes[1]
    assert node_for_address("10.0.0.4", 6379, nodes) == nodes[2]
    assert node_for_address("10.0.0.6", 6379, nodes) is None  # a sentinel's address
    assert node_for_address("redis2", 6380, nodes) is None
    assert node_for_address("elsewhere", 6379, nodes) is None


def test_agreed_primary_when_all_agree() -> None:
    views = {s: SentinelView(("redis2", 6379), True) for s in ("sentinel1", "sentinel2",
                                                                 "sentinel3")}
    primary, reasons = agreed_primary(views, _nodes(), 3)
    assert primary is not None and primary.name == "redis2"
    assert reasons == []


def test_agreed_primary_majority_with_reasons_for_the_rest() -> None:
    views = {
        "sentinel1": SentinelView(("redis1", 6379), True),  # isolated: still names the old one
        "sentinel2": SentinelView(("10.0.0.2", 6379), True),  # an IP, not a hostname
        "sentinel3": SentinelView(("redis2", 6379), False),
    }
    primary, reasons = agreed_primary(views, _nodes(), 3)
    assert primary is not None and primary.name == "redis2"
    assert "sentinel3: no quorum to authorise a failover (ckquorum)" in reasons
    assert any(r.startswith("sentinels disagree on the primary") for r in reasons)


def test_agreed_primary_none_without_a_majority() -> None:
    views = {
        "sentinel1": SentinelView(error="refused"),
        "sentinel2": SentinelView(("redis2", 6379), True),
        "sentinel3": SentinelView(("elsewhere", 6379), True),
    }
    primary, reasons = agreed_primary(views, _nodes(), 3)
    assert primary is None
    assert reasons[:2] == ["sentinel1: refused", "sentinel3: names elsewhere:6379, not one of ours"]


def _repl(role: str, **kw: object) -> Replication:
    return Replication(role, 100, **kw)  # type: ignore[arg-type]


def test_replication_healthy() -> None:
    nodes = _nodes()
    data = nodes[:3]
    repl: dict[str, Replication | str] = {
        "redis1": _repl("master", replicas=(ReplicaLink("redis2", 6379, "online", 100, 0),
                                            ReplicaLink("redis3", 6379, "online", 100, 1))),
        "redis2": _repl("slave", master_host="redis1", link_up=True),
        "redis3": _repl("slave", master_host="10.0.0.3", link_up=True),
    }
    assert replication_reasons(nodes[0], data, repl) == []


def test_replication_reasons_name_each_problem() -> None:
    nodes = _nodes()
    data = nodes[:3]
    repl: dict[str, Replication | str] = {
        "redis1": _repl("master", replicas=(ReplicaLink("redis2", 6379, "send_bulk", 0, 0),)),
        "redis2": _repl("slave", master_host="redis1", link_up=True, syncing=True),
        "redis3": "refused",
    }
    assert replication_reasons(nodes[0], data, repl) == [
        "redis1: replicas not online and in sync: ['redis2', 'redis3']",
        "redis2: full sync from redis1 in progress",
        "redis3: refused",
    ]
    two_primaries: dict[str, Replication | str] = {
        "redis1": _repl("master"),
        "redis2": _repl("master"),
        "redis3": _repl("slave", master_host="redis2", link_up=False),
    }
    assert replication_reasons(nodes[1], data, two_primaries) == [
        "redis1: is a master, want a replica of redis2",
        "redis2: replicas not online and in sync: ['redis1', 'redis3']",
        "redis3: link to redis2 is down",
    ]
