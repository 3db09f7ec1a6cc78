"""The out-of-sample protocol shared by the quality benchmarks: choose on the other sets, score the one left out.

A benchmark scores every candidate setting (``config``) on every held-out unit (``unit``: a dataset, category,
clip, NAB category or object) and passes the table ``scores[config][unit]`` here. For each unit,
:func:`leave_one_out` picks the config with the best mean over the *other* units and reports that config's score
on the unit: no unit's figure comes from a setting chosen on it. The in-sample figure (the config with the best
mean over all units, scored on the same units) is given beside it; the gap is what tuning on the data added.

With a single candidate config both figures are equal: the default was fixed before looking at any unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = ["Choice", "in_sample", "leave_one_out", "split_halves"]


class Choice(tuple[str, float]):
    """``(config, score)``: the config chosen without the unit and its score on the unit."""

    __slots__ = ()

    @property
    def config(self) -> str:
        return self[0]

    @property
    def score(self) -> float:
        return self[1]


def _best(scores: Mapping[str, Mapping[str, float]], units: Sequence[str],
          objective: Callable[[Sequence[float]], float]) -> str:
    """The config with the highest objective over ``units`` (ties: the first config given)."""
    best, best_value = "", -np.inf
    for config, by_unit in scores.items():
        values = [by_unit[u] for u in units if np.isfinite(by_unit.get(u, np.nan))]
        value = objective(values) if values else -np.inf
        if value > best_value:
            best, best_value = config, value
    return best


def leave_one_out(scores: Mapping[str, Mapping[str, float]], *,
                  objective: Callable[[Sequence[float]], float] = np.mean) -> dict[str, Choice]:
    """For each unit, the config chosen on all other units (best ``objective``) and its score on the unit."""
    units = sorted({u for by_unit in scores.values() for u in by_unit})
    out = {}
    for unit in units:
        config = _best(scores, [u for u in units if u != unit], objective)
        out[unit] = Choice((config, float(scores[config].get(unit, np.nan))))
    return out


def split_halves(scores: Mapping[str, Mapping[str, float]], halves: tuple[Sequence[str], Sequence[str]], *,
                 objective: Callable[[Sequence[float]], float] = np.mean) -> dict[str, Choice]:
    """Choose on one half of the units, score the other half, both ways."""
    out = {}
    for train, test in (halves, halves[::-1]):
        config = _best(scores, train, objective)
        out.update({u: Choice((config, float(scores[config].get(u, np.nan)))) for u in test})
    return out


def in_sample(scores: Mapping[str, Mapping[str, float]], *,
              objective: Callable[[Sequence[float]], float] = np.mean) -> dict[str, Choice]:
    """The config with the best objective over all units, scored on every unit (tuned on what it reports)."""
    units = sorted({u for by_unit in scores.values() for u in by_unit})
    config = _best(scores, units, objective)
    return {u: Choice((config, float(scores[config].get(u, np.nan)))) for u in units}
