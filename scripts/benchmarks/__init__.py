"""The figures scripts/bench prints. Each measures one thing AND its baseline in the same run
(interleaved rounds, so load on the machine hits both alike) and is reported as a ratio.

Adding a figure is one function in a module of this folder (every module is loaded):

    from . import Samples, figure, paired

    @figure("posted writel loop", unit="ops/s", baseline="raw sync qtest writel loop",
            at_least=10.0)
    async def posted_writel(rounds: int, scale: float) -> Samples:
        async with Machine(MachineSpec()) as m:
            return paired(rounds, lambda: my_loop(m, int(20000 * scale)),
                          lambda: raw_loop(m, int(20000 * scale)))

`paired` runs the two callables back to back `rounds` times and collects both samples;
a figure that measures in its own way returns Samples(value=[...], baseline=[...]) itself.
Units ending in "/s" are rates (higher is better), "s" is a duration (lower is better); the
ratio is always value / baseline (median of the per-round ratios), and the target says
which way it must go (`at_least=` for rates, `at_most=` for durations).
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable


@dataclass
class Samples:
    """One figure's measurements: the thing and its baseline, one pair per round."""

    value: list[float]
    baseline: list[float]
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    baseline: str
    measure: Callable[[int, float], Awaitable[Samples]]
    at_least: float | None = None
    at_most: float | None = None
    module: str = ""

    @property
    def key(self) -> str:
        """The figure's id for --only and JSON: module.function."""
        return f"{self.module}.{self.measure.__name__}"


@dataclass
class Result:
    figure: Figure
    samples: Samples

    @property
    def ratio(self) -> float:
        return statistics.median(v / b for v, b in zip(self.samples.value, self.samples.baseline))

    @property
    def value(self) -> float:
        return statistics.median(self.samples.value)

    @property
    def baseline(self) -> float:
        return statistics.median(self.samples.baseline)

    @property
    def target(self) -> str:
        f = self.figure
        if f.at_least is not None:
            return f">= {f.at_least:g}"
        return f"<= {f.at_most:g}" if f.at_most is not None else ""

    @property
    def met(self) -> bool | None:
        f = self.figure
        if f.at_least is not None:
            return self.ratio >= f.at_least
        if f.at_most is not None:
            return self.ratio <= f.at_most
        return None

    def to_dict(self) -> dict[str, Any]:
        f = self.figure
        return {"figure": f.key, "name": f.name, "unit": f.unit,
                "value": self.value, "baseline_name": f.baseline, "baseline": self.baseline,
                "ratio": round(self.ratio, 4), "target": self.target or None, "met": self.met,
                "rounds": len(self.samples.value), "samples": self.samples.value,
                "baseline_samples": self.samples.baseline, **self.samples.notes}


FIGURES: list[Figure] = []


def figure(name: str, *, unit: str, baseline: str, at_least: float | None = None,
           at_most: float | None = None) -> Callable[[Callable[[int, float], Awaitable[Samples]]],
                                                     Callable[[int, float], Awaitable[Samples]]]:
    """Register `async def f(rounds, scale) -> Samples` as a figure of scripts/bench."""
    def register(fn: Callable[[int, float], Awaitable[Samples]]) -> Callable[..., Any]:
        FIGURES.append(Figure(name, unit, baseline, fn, at_least, at_most,
                              fn.__module__.rsplit(".", 1)[-1]))
        return fn
    return register


def paired(rounds: int, thing: Callable[[], float], base: Callable[[], float]) -> Samples:
    """`rounds` x (thing, baseline) back to back."""
    out = Samples([], [])
    for _ in range(rounds):
        out.value.append(thing())
        out.baseline.append(base())
    return out


def load_all() -> list[Figure]:
    """Import every module of this folder (each registers its figures)."""
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{mod}")
    return FIGURES
