from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from chaos_eval.analysis.linearizability import CheckResult, Verdict, check
from chaos_eval.history import HistoryError, Op, OpKind, OpOutcome, dump_history, parse_history
from tests.unit.analysis.bruteforce import brute_force_key, brute_force_linearizable
from tests.unit.analysis.histgen import gen_history

OK, FAIL, UNK = OpOutcome.OK, OpOutcome.FAIL, OpOutcome.UNKNOWN
_ids = iter(range(10**9))


def w(p: int, key: str, v: str, t0: float, t1: float | None, out: OpOutcome = OK) -> Op:
    return Op(id=next(_ids), process=p, kind=OpKind.WRITE, key=key, value=v, invoke=t0,
              complete=t1, outcome=out)


def r(p: int, key: str, v: str | None, t0: float, t1: float | None, out: OpOutcome = OK) -> Op:
    return Op(id=next(_ids), process=p, kind=OpKind.READ, key=key, value=v, invoke=t0,
              complete=t1, outcome=out)


def cas(p: int, key: str, exp: str | None, new: str, t0: float, t1: float | None,
        out: OpOutcome = OK) -> Op:
    return Op(id=next(_ids), process=p, kind=OpKind.CAS, key=key, value=new, expected=exp,
              invoke=t0, complete=t1, outcome=out)


def assert_violation(h: list[Op], key: str) -> CheckResult:
    res = check(h)
    assert res.verdict is Verdict.NOT_LINEARIZABLE
    assert brute_force_linearizable(h) is False
    v = res.violation
    assert v is not None and v.key == key
    assert v.op_id in v.window
    assert key in v.reason
    return res


def assert_linearizable(h: list[Op]) -> None:
    res = check(h)
    assert res.verdict is Verdict.LINEARIZABLE, res.reason
    assert res.violation is None
    assert brute_force_linearizable(h) is True


# ---------------------------------------------------------------- classic anomalies


def test_stale_read() -> None:
    w1, w2 = w(0, "k1", "v1", 0, 1), w(0, "k1", "v2", 2, 3)
    stale = r(1, "k1", "v1", 4, 5)
    other = [w(2, "k2", "x", 0, 1), r(2, "k2", "x", 2, 3)]
    res = assert_violation([w1, w2, stale, *other], "k1")
    v = res.violation
    assert v is not None
    assert v.op_id == stale.id
    assert v.window == (w1.id, w2.id, stale.id)
    assert "'v1'" in v.reason and "'v2'" in v.reason
    assert {k.key: k.verdict for k in res.keys} == {
        "k1": Verdict.NOT_LINEARIZABLE, "k2": Verdict.LINEARIZABLE}


def test_read_absent_after_completed_write() -> None:
    assert_violation([w(0, "k", "a", 0, 1), r(1, "k", None, 2, 3)], "k")


def test_lost_update_two_cas_from_same_value() -> None:
    h = [w(0, "k", "0", 0, 1), cas(1, "k", "0", "1", 2, 5), cas(2, "k", "0", "2", 2, 5)]
    assert_violation(h, "k")


def test_lost_write_flip_flop() -> None:
    # Two concurrent writes; later reads see b, then a, then b again: one write vanished.
    h = [w(0, "k", "a", 0, 1), w(1, "k", "b", 0, 1), r(2, "k", "b", 2, 3),
         r(2, "k", "a", 4, 5), r(2, "k", "b", 6, 7)]
    assert_violation(h, "k")


def test_read_of_value_never_written() -> None:
    h = [w(0, "k", "a", 0, 1), r(1, "k", "zzz", 0, 3)]
    res = assert_violation(h, "k")
    assert "no write or cas that may have taken effect" in res.reason


def test_cas_succeeded_twice() -> None:
    h = [w(0, "k", "a", 0, 1), cas(1, "k", "a", "b", 2, 3), cas(2, "k", "a", "b", 4, 5)]
    res = assert_violation(h, "k")
    assert "cas" in res.reason


def test_unknown_write_invoked_after_read_cannot_explain_it() -> None:
    h = [w(0, "k", "a", 0, 1), r(1, "k", "b", 2, 3), w(2, "k", "b", 4, None, UNK)]
    assert_violation(h, "k")


def test_violation_names_right_key_among_many() -> None:
    h = [w(p, f"k{p}", "a", 0, 1) for p in range(5)] + [
        r(p, f"k{p}", "a", 2, 3) for p in range(5) if p != 3] + [r(3, "k3", "nope", 2, 3)]
    assert_violation(h, "k3")


# ---------------------------------------------------------------- linearizable histories


@pytest.mark.parametrize("seen", ["a", "b"])
def test_concurrent_write_read_either_order(seen: str) -> None:
    assert_linearizable([w(0, "k", "a", 0, 1), w(0, "k", "b", 2, 6), r(1, "k", seen, 3, 4)])


def test_touching_intervals_are_concurrent() -> None:
    # write completes at t=1 and the read starts at t=1: the read may still see the old value
    assert_linearizable([w(0, "k", "a", 0, 0.5), w(0, "k", "b", 0.5, 1), r(1, "k", "a", 1, 2)])


def test_unknown_write_later_read() -> None:
    assert_linearizable([w(0, "k", "a", 0, None, UNK), r(1, "k", None, 1, 2),
                         r(1, "k", "a", 10, 11), r(1, "k", "a", 12, 13)])


def test_unknown_write_never_appears() -> None:
    assert_linearizable([w(0, "k", "a", 0, 1), w(1, "k", "b", 2, None, UNK),
                         r(2, "k", "a", 5, 6), r(2, "k", "a", 7, 8)])


def test_unknown_cas_chain() -> None:
    assert_linearizable([w(0, "k", "a", 0, None, UNK), cas(1, "k", "a", "b", 1, None, UNK),
                         r(2, "k", "b", 5, 6)])


def test_failed_and_unknown_ops_ignored() -> None:
    assert_linearizable([
        w(0, "k", "a", 0, 1), w(1, "k", "b", 2, 3, FAIL), cas(1, "k", "zz", "c", 4, 5, FAIL),
        r(2, "k", "never", 4, None, UNK), r(2, "k", "a", 6, 7)])


def test_empty_and_only_unknown() -> None:
    assert check([]).verdict is Verdict.LINEARIZABLE
    assert_linearizable([w(0, "k", "a", 0, None, UNK)])


def test_cas_on_absent_key() -> None:
    assert_linearizable([cas(0, "k", None, "a", 0, 1), r(1, "k", "a", 2, 3)])
    assert_violation([w(0, "k", "a", 0, 1), cas(1, "k", None, "b", 2, 3)], "k")


# ---------------------------------------------------------------- budget


def _adversarial(n: int) -> list[Op]:
    # n concurrent writes then a read of a value nobody wrote: the search must try ~2^n orders
    return [w(p, "k", f"v{p}", 0, 100) for p in range(n)] + [r(n, "k", "nope", 0, 100)]


def test_step_budget_gives_unknown() -> None:
    res = check(_adversarial(25), max_steps=10)
    assert res.verdict is Verdict.UNKNOWN
    assert res.steps == 10
    assert res.violation is None
    assert "budget" in res.reason
    for bad_budget in (0, -5):
        assert check(_adversarial(25), max_steps=bad_budget).verdict is Verdict.UNKNOWN


def test_deadline_gives_unknown() -> None:
    res = check(_adversarial(25), deadline_s=0.05)
    assert res.verdict is Verdict.UNKNOWN


def test_budget_exhaustion_marks_remaining_keys_unknown() -> None:
    h = [*_adversarial(25), w(0, "z", "a", 0, 1), r(0, "z", "a", 2, 3)]
    res = check(h, max_steps=50)
    assert [k.verdict for k in res.keys] == [Verdict.UNKNOWN, Verdict.UNKNOWN]


def test_small_adversarial_completes() -> None:
    res = check(_adversarial(8))
    assert res.verdict is Verdict.NOT_LINEARIZABLE


# ---------------------------------------------------------------- parser

GOOD = ('{"id": 1, "process": 0, "kind": "write", "key": "k", "value": "a", "expected": null, '
        '"invoke": 0, "complete": 1.5, "outcome": "ok"}')


def _line(**changes: object) -> str:
    obj = json.loads(GOOD)
    obj["id"] = 2
    obj.update(changes)
    return json.dumps(obj)


def _without(field: str) -> str:
    obj = json.loads(_line())
    del obj[field]
    return json.dumps(obj)


@pytest.mark.parametrize(("bad", "needle"), [
    ("{not json", "bad JSON"),
    ("[1, 2]", "JSON object"),
    (_without("key"), "missing field(s): key"),
    (_line(process="1"), "process must be an integer"),
    (_line(id=True), "id must be an integer"),
    (_line(kind="delete"), "unknown kind 'delete'"),
    (_line(outcome="maybe"), "unknown outcome 'maybe'"),
    (_line(invoke=5, complete=4), "before invoke"),
    (_line(invoke=float("nan")), "invoke must be a finite number"),
    (_line(complete=float("nan")), "complete must be a number"),
    (_line(complete=None), "needs a finite complete"),
    (_line(value=None), "needs a string value"),
    (_line(value=3), "value must be a string"),
    (_line(expected="x"), "expected is only meaningful for cas"),
    (_line(colour="red"), "unknown field(s): colour"),
    (_line(id=1), "duplicate op id 1"),
])
def test_parser_rejects(bad: str, needle: str) -> None:
    with pytest.raises(HistoryError) as info:
        parse_history([GOOD, "", bad], "run7.jsonl")
    assert str(info.value).startswith("run7.jsonl:3: ")
    assert needle in str(info.value)


def test_parser_roundtrip_and_text_input() -> None:
    h = [w(0, "k", "a", 0, 1), cas(1, "k", None, "b", 0.5, None, UNK), r(2, "k", None, 2, 3),
         w(3, "k", "c", 1, math.inf, UNK), r(2, "k", "x", 4, None, FAIL)]
    text = dump_history(h)
    assert len(text.splitlines()) == 5
    back = parse_history(text, "mem")
    assert [o.id for o in back] == [o.id for o in h]
    assert back[3].complete is None and check(back).verdict is check(h).verdict
    assert dump_history(back) == text


# ---------------------------------------------------------------- properties vs brute force


def _compare(h: list[Op]) -> Verdict:
    res = check(h)
    assert res.verdict is not Verdict.UNKNOWN
    by_key: dict[str, list[Op]] = {}
    for op in h:
        by_key.setdefault(op.key, []).append(op)
    for kr in res.keys:
        expected = brute_force_key(by_key[kr.key])
        assert (kr.verdict is Verdict.LINEARIZABLE) == expected, (kr, dump_history(h))
        assert (kr.violation is not None) == (not expected)
    return res.verdict


@settings(max_examples=2000, deadline=None)
@given(rnd=st.randoms(use_true_random=False), perturb=st.booleans())
def test_matches_bruteforce(rnd: random.Random, perturb: bool) -> None:
    h = gen_history(rnd, perturb=perturb)
    verdict = _compare(h)
    event(f"{'perturbed' if perturb else 'realistic'}: {verdict}")


@settings(max_examples=500, deadline=None)
@given(rnd=st.randoms(use_true_random=False))
def test_realistic_histories_are_linearizable(rnd: random.Random) -> None:
    h = gen_history(rnd, perturb=False, max_per_key=20)
    assert check(h).verdict is Verdict.LINEARIZABLE


@settings(max_examples=300, deadline=None)
@given(rnd=st.randoms(use_true_random=False), perturb=st.booleans())
def test_input_order_and_roundtrip_do_not_matter(rnd: random.Random, perturb: bool) -> None:
    h = gen_history(rnd, perturb=perturb)
    shuffled = list(h)
    rnd.shuffle(shuffled)
    back = parse_history(dump_history(shuffled), "mem")
    assert check(back).verdict is check(h).verdict


def test_both_verdicts_frequent_and_agree() -> None:
    rnd = random.Random(20261201)
    counts: Counter[Verdict] = Counter()
    n = 3000
    for _ in range(n):
        counts[_compare(gen_history(rnd, perturb=rnd.random() < 0.5))] += 1
    assert counts[Verdict.LINEARIZABLE] > n // 10, counts
    assert counts[Verdict.NOT_LINEARIZABLE] > n // 10, counts
