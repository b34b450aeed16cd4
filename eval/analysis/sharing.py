"""Trials that run side by side share the machine: on a small host two concurrent trials
each take far longer than one alone (measured here: ~74 s each as a pair, ~27 s alone, for
the same etcd cell on 2 cores). `plan` therefore estimates in *work*: the machine-time a
trial used, i.e. its wall time with each moment divided by the number of the campaign's
trials running then (`work_shares`), and plays the schedule back with the same sharing
(`shared_makespan`: k running trials each progress at 1/k). With `parallel: 1`, work is
simply the duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise


def work_shares(intervals: Sequence[tuple[float, float]]) -> list[float]:
    """For each (start, end), the integral over it of 1 / (intervals open at that moment).
    Pure; in the order given."""
    points = sorted({p for iv in intervals for p in iv})
    shares = [0.0] * len(intervals)
    for a, b in pairwise(points):
        open_now = [i for i, (s, e) in enumerate(intervals) if s <= a and e >= b]
        for i in open_now:
            shares[i] += (b - a) / len(open_now)
    return shares


def shared_makespan(
    work: Sequence[float], parallel: int, cooldown: float, start: float = 0.0
) -> float:
    """When the last of `work` (in start order) is done, with `parallel` slots, the running
    trials sharing the machine equally, and each slot idle `cooldown` seconds (wall time,
    no share) after its trial. Pure."""
    queue = list(work)
    running: list[float] = []  # remaining work of each running trial
    cooling: list[float] = []  # when each cooling slot frees up
    now = start
    while queue or running:
        while queue and len(running) + len(cooling) < parallel:
            running.append(queue.pop(0))
        k = len(running)
        next_done = now + min(running) * k if running else float("inf")
        next_free = min(cooling) if cooling else float("inf")
        step_to = min(next_done, next_free)
        if k:
            progress = (step_to - now) / k
            running = [r - progress for r in running]
        now = step_to
        finished = [r for r in running if r <= 1e-9]
        running = [r for r in running if r > 1e-9]
        cooling = [c for c in cooling if c > now + 1e-9]
        cooling += [now + cooldown] * len(finished) if cooldown > 0 else []
    return max([now, *cooling])
