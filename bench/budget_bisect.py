"""The bisection both memory-matching benches share: the largest memory budget whose run holds no
more than a target, within the iterations given. A budget is a cap and a policy under a cap averages
below it, so the budget that matches a target lies at or above the target itself."""
import sys


def bisect_budget(lo, hi, iterations, measure, target, describe, try_low_first=False):
    """measure(budget, i) -> (held, payload); describe(budget, held) -> a progress line.
    Returns (budget, payload) of the largest budget tried whose `held` is <= target, or None."""
    best = None
    for i in range(iterations):
        budget = lo if i == 0 and try_low_first else (lo + hi) / 2
        held, payload = measure(budget, i)
        print(describe(budget, held), file=sys.stderr)
        if held <= target:
            best = (budget, payload)
            lo = budget
        else:
            hi = budget
    return best
