"""The pure rules of a sampled cell's end (chaos_eval.analysis.sampling) and the spec's bound
on a pass-rate width (chaos_eval.spec.samples), held equal to the Wilson interval."""

from __future__ import annotations

import dataclasses

import pytest

from chaos_eval.analysis.intervals import wilson
from chaos_eval.analysis.progress import cell_progress
from chaos_eval.analysis.sampling import cell_seed, first_end, judge, not_ended_text
from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.samples import Samples, narrowest_wilson_width, samples_needed
from chaos_eval.store.records import TrialRow

S = TrialStatus


def row(i: int, status: TrialStatus, recovery: float | None = 1.0) -> TrialRow:
    return TrialRow(
        id=i, campaign_id=1, key=f"k{i}", ordinal=i, subject="etcd", subject_type="etcd",
        fault="pause", params="{}", target="leader", repetition=i, seed=i, status=status,
        phase=None, attempts=1, started_at=float(i), finished_at=float(i) + 0.5, targets="[]",
        recovery_s=recovery, measurements="{}", proof="{}", reasons="[]", error="",
    )


@pytest.mark.parametrize("n", [1, 2, 5, 10, 35, 100])
def test_the_spec_bound_is_the_wilson_width_at_p0_and_p1(n: int) -> None:
    for k in (0, n):
        iv = wilson(k, n)
        assert iv.low is not None and iv.high is not None
        assert narrowest_wilson_width(n) == pytest.approx(iv.high - iv.low)
    assert samples_needed(0.1) == 35 and narrowest_wilson_width(35) < 0.1
    assert narrowest_wilson_width(34) >= 0.1


def test_errors_are_spent_but_no_samples_and_max_trials_ends_the_cell() -> None:
    s = Samples(target=3, max_trials=4)
    done = [row(0, S.ERROR), row(1, S.PASSED), row(2, S.CLEANUP_FAILED), row(3, S.FAILED)]
    end = judge(done, s, 1)
    assert end is not None and (end.rule, end.samples, end.spent, end.errors) == (
        "max_trials", 2, 4, 2)
    assert end.text == "max_trials spent (4, 2 errors)"
    assert judge(done[:3], s, 1) is None
    assert not_ended_text(done[:3], s) == "not ended (1/3 samples, 3/4 trials)"


def test_the_rule_is_judged_first_and_only_after_min_trials() -> None:
    s = Samples(target=3, max_trials=3, min_trials=3,
                stop_when={"pass_rate_ci_width": 0.6})  # type: ignore[arg-type]
    passes = [row(i, S.PASSED) for i in range(3)]
    assert judge(passes[:2], s, 1) is None  # 0.66 wide, and under min_trials anyway
    end = judge(passes, s, 1)
    assert end is not None and end.rule == "stopping_rule" and end.width == pytest.approx(0.5609,
                                                                                        abs=1e-3)
    mixed = [row(0, S.PASSED), row(1, S.FAILED), row(2, S.PASSED)]
    end = judge(mixed, s, 1)  # too wide: the target ends it
    assert end is not None and end.text == "target met (3/3)"


def test_recovery_rule_is_seeded_and_replay_finds_the_first_end() -> None:
    s = Samples(target=12, max_trials=12, min_trials=3,
                stop_when={"recovery_median_ci_width_s": 0.5})  # type: ignore[arg-type]
    times = [1.0, 5.0, 3.0, 3.0, 3.1, 2.9, 3.0, 3.05, 2.95, 3.0, 3.0, 3.02]
    done = [row(i, S.PASSED, t) for i, t in enumerate(times)]
    seed = cell_seed(7, "etcd", "pause", "{}")
    assert seed == cell_seed(7, "etcd", "pause", "{}") != cell_seed(8, "etcd", "pause", "{}")
    end, judged = first_end(done, s, seed)
    assert end is not None and end.rule == "stopping_rule"
    assert judged == end.samples and 3 < end.samples < 12
    assert end.width is not None and end.width < 0.5
    # judging prefixes one at a time (the runner) reaches the same end at the same trial
    k, step = 0, None
    while step is None:
        step, k = first_end(done[: k + 1], s, seed, k)
    assert (step, k) == (end, judged)
    assert first_end(done[:3], s, seed) == (None, 3)


def test_progress_counts_samples_toward_each_target() -> None:
    trials = [row(0, S.ERROR), row(1, S.PASSED), dataclasses.replace(row(2, S.RUNNING))]
    (cell,) = cell_progress(trials, {"etcd / pause": 5})
    assert (cell.done, cell.target, cell.running) == (1, 5, 1)
    plain = cell_progress(trials)[0]
    assert (plain.done, plain.target) == (2, 3)
    assert [c.label for c in cell_progress([], {"etcd / pause": 2})] == ["etcd / pause"]


def test_trials_to_come_counts_each_open_cell_to_its_target() -> None:
    from chaos_eval.analysis.sampling import trials_to_come

    cell = ("etcd", "pause", "{}", "leader")
    other = ("etcd", "pause", '{"x": 1}', "leader")
    cells = {cell: Samples(target=5, max_trials=8), other: Samples(target=2, max_trials=2)}
    trials = [row(0, S.ERROR), row(1, S.PASSED), row(2, S.RUNNING), row(3, S.FAILED)]
    # cell: 2 samples + 1 running of 5 -> 2 to come; other: none yet, 2 to come
    assert trials_to_come(cells, trials, set()) == 4
    assert trials_to_come(cells, trials, {other}) == 2  # an ended cell adds nothing
