"""Small statistics for experiments, in plain Python (no numpy, no scipy).

    percentile(values, q)        linear interpolation between closest ranks (numpy's default)
    mean_ci95(values)            mean and the half-width of its 95% confidence interval
    jain_index(values)           Jain's fairness index, (sum x)^2 / (n * sum x^2)
    cdf(values)                  the empirical CDF as (sorted values, cumulative fractions)
    decimate(rows, max_rows)     at most max_rows rows, first and last kept, evenly spaced
    confidence_ellipse(points)   the ellipse that holds a given share of a 2-D normal spread

Functions take any iterable of numbers and return None (or empty results) for no data,
so a run with an idle flow still gets a metrics file.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import TypeVar

Row = TypeVar("Row")

# Two-sided 95% quantiles of Student's t (the 0.975 quantile), by degrees of freedom.
T95_TABLE = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)
Z975 = statistics.NormalDist().inv_cdf(0.975)  # 1.959964...: the normal limit of t


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (q in 0..100) of `values`, interpolated linearly between the two
    closest ranks as numpy.percentile does by default; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile: q must be in 0..100, got {q}")
    position = (len(ordered) - 1) * q / 100.0
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


def t95(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom: tabulated up to 30,
    beyond that the Cornish-Fisher expansion around the normal quantile (Abramowitz &
    Stegun 26.7.5), which is within 1e-4 of the exact value there."""
    if df < 1:
        raise ValueError(f"t95: degrees of freedom must be at least 1, got {df}")
    if df <= len(T95_TABLE):
        return T95_TABLE[df - 1]
    z = Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def mean_ci95(values: Iterable[float]) -> tuple[float | None, float | None]:
    """(mean, half-width of the 95% confidence interval of the mean), Student's t with the
    sample standard deviation: the interval is mean ± half-width. (None, None) for no
    values; the half-width is None for one value (no spread to estimate)."""
    numbers = [float(v) for v in values]
    if not numbers:
        return None, None
    mean = statistics.fmean(numbers)
    if len(numbers) < 2:
        return mean, None
    spread = statistics.stdev(numbers)
    return mean, t95(len(numbers) - 1) * spread / math.sqrt(len(numbers))


def jain_index(values: Iterable[float]) -> float | None:
    """Jain's fairness index (sum x)^2 / (n * sum x^2): 1.0 when every flow gets the same,
    1/n when one flow gets everything. None for no flows, or when every value is zero
    (nothing was shared, so fairness is undefined)."""
    numbers = [float(v) for v in values]
    squares = sum(x * x for x in numbers)
    if not numbers or squares == 0.0:
        return None
    return sum(numbers) ** 2 / (len(numbers) * squares)


def cdf(values: Iterable[float]) -> tuple[list[float], list[float]]:
    """The empirical CDF: the values sorted, and for the i-th (from 1) the fraction i/n of
    values at or below it. ([], []) for no values."""
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def decimate(rows: Sequence[Row], max_rows: int) -> list[Row]:
    """At most `max_rows` of `rows`: the first, the last, and rows evenly spaced by index in
    between. Integer arithmetic picks the rows, so the choice is the same on every machine."""
    n = len(rows)
    if n <= max_rows:
        return list(rows)
    if max_rows < 2:
        raise ValueError(f"decimate: max_rows must be at least 2, got {max_rows}")
    # index i*(n-1)//(max_rows-1) runs from 0 to n-1 in steps of at least 1 (n > max_rows)
    return [rows[i * (n - 1) // (max_rows - 1)] for i in range(max_rows)]


def confidence_ellipse(points: Iterable[tuple[float, float]], level: float = 0.95
                       ) -> tuple[tuple[float, float], float, float, float]:
    """(center, width, height, angle in degrees) of the ellipse that holds `level` of a 2-D
    normal distribution with the points' mean and sample covariance: the spread of the
    runs, as Pantheon draws around each scheme. `width` is the major axis, `angle` its
    direction from the x axis. Fewer than two points give a zero-size ellipse.

    For a 2-D normal, the squared Mahalanobis distance is chi-square with 2 degrees of
    freedom, whose quantile has a closed form: -2 ln(1 - level)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence_ellipse: level must be in (0, 1), got {level}")
    pts = [(float(x), float(y)) for x, y in points]
    if not pts:
        raise ValueError("confidence_ellipse: no points")
    n = len(pts)
    cx = math.fsum(x for x, _ in pts) / n
    cy = math.fsum(y for _, y in pts) / n
    if n < 2:
        return (cx, cy), 0.0, 0.0, 0.0
    sxx = math.fsum((x - cx) ** 2 for x, _ in pts) / (n - 1)
    syy = math.fsum((y - cy) ** 2 for _, y in pts) / (n - 1)
    sxy = math.fsum((x - cx) * (y - cy) for x, y in pts) / (n - 1)
    # eigenvalues of [[sxx, sxy], [sxy, syy]]: half-trace ± the distance to the diagonal
    half_trace = (sxx + syy) / 2
    radius = math.hypot((sxx - syy) / 2, sxy)
    major, minor = half_trace + radius, max(half_trace - radius, 0.0)
    angle = math.degrees(0.5 * math.atan2(2 * sxy, sxx - syy))  # the major axis' direction
    scale = math.sqrt(-2.0 * math.log(1.0 - level))
    return (cx, cy), 2 * scale * math.sqrt(major), 2 * scale * math.sqrt(minor), angle
