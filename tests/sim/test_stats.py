"""The small statistics experiments report: each checked against a hand computation or numpy."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from netstack.sim.stats import (
    cdf,
    confidence_ellipse,
    decimate,
    jain_index,
    mean_ci95,
    percentile,
    t95,
)


def test_percentile_matches_numpy_linear_interpolation_on_random_data():
    rng = random.Random(11)
    for n in (1, 2, 3, 10, 101, 1000):
        values = [rng.expovariate(1.0) for _ in range(n)]
        for q in (0, 1, 25, 50, 90, 95, 99, 100):
            assert percentile(values, q) == pytest.approx(np.percentile(values, q), rel=1e-12)


def test_percentile_by_hand_and_of_nothing():
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)  # rank 94.05 from 0
    assert percentile([10.0, 20.0], 50) == 15.0
    assert percentile([], 95) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_t_quantiles_are_the_tabulated_and_exact_values():
    assert t95(1) == pytest.approx(12.7062, abs=1e-4)
    assert t95(4) == pytest.approx(2.7764, abs=1e-4)
    assert t95(30) == pytest.approx(2.0423, abs=1e-4)
    # beyond the table: exact values of the 0.975 quantile
    assert t95(40) == pytest.approx(2.021075, abs=1e-4)
    assert t95(60) == pytest.approx(2.000298, abs=1e-4)
    assert t95(120) == pytest.approx(1.979930, abs=1e-4)
    assert 1.96 < t95(10_000) < 1.9605
    assert all(t95(df) > t95(df + 1) for df in range(1, 200))
    with pytest.raises(ValueError):
        t95(0)


def test_mean_ci95_uses_students_t_with_the_sample_deviation():
    mean, half = mean_ci95([1, 2, 3, 4, 5])
    assert mean == 3.0
    # s = sqrt(2.5); t(0.975, 4) = 2.7764
    assert half == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), rel=1e-4)
    assert mean_ci95([7.0]) == (7.0, None)
    assert mean_ci95([]) == (None, None)
    assert mean_ci95([2.0, 2.0, 2.0]) == (2.0, 0.0)


def test_jain_index_for_equal_unequal_single_and_no_flows():
    assert jain_index([5.0, 5.0, 5.0, 5.0]) == pytest.approx(1.0)
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)  # 1/n: one flow takes all
    assert jain_index([1.0, 2.0, 3.0]) == pytest.approx(36 / 42)  # 6^2 / (3 * 14)
    assert jain_index([3e6]) == 1.0
    assert jain_index([]) is None
    assert jain_index([0.0, 0.0]) is None


def test_cdf_is_sorted_values_and_cumulative_fractions():
    assert cdf([3.0, 1.0, 2.0]) == ([1.0, 2.0, 3.0], [1 / 3, 2 / 3, 1.0])
    assert cdf([]) == ([], [])


def test_decimate_keeps_first_last_and_evenly_spaced_rows():
    rows = list(range(10_001))
    kept = decimate(rows, 101)
    assert len(kept) == 101
    assert kept[0] == 0 and kept[-1] == 10_000
    assert kept == list(range(0, 10_001, 100))
    uneven = decimate(list(range(1000)), 7)
    assert uneven[0] == 0 and uneven[-1] == 999 and len(set(uneven)) == 7
    assert uneven == sorted(uneven)
    assert decimate([1, 2, 3], 5) == [1, 2, 3]
    with pytest.raises(ValueError):
        decimate([1, 2, 3], 1)


def test_ellipse_of_a_known_covariance():
    # four points on the axes: var x = 2*3^2/3 = 6, var y = 2*1^2/3 = 2/3, no covariance
    (cx, cy), width, height, angle = confidence_ellipse([(3, 0), (-3, 0), (0, 1), (0, -1)])
    scale = math.sqrt(-2 * math.log(0.05))  # the chi-square(2) 95% radius, 2.4477
    assert (cx, cy) == (0.0, 0.0)
    assert width == pytest.approx(2 * scale * math.sqrt(6))
    assert height == pytest.approx(2 * scale * math.sqrt(2 / 3))
    assert angle == pytest.approx(0.0)
    # the same points turned by 30 degrees and moved: same axes, turned ellipse
    theta = math.radians(30)
    turned = [(10 + x * math.cos(theta) - y * math.sin(theta),
               5 + x * math.sin(theta) + y * math.cos(theta))
              for x, y in [(3, 0), (-3, 0), (0, 1), (0, -1)]]
    (cx, cy), w2, h2, a2 = confidence_ellipse(turned)
    assert (cx, cy) == (pytest.approx(10), pytest.approx(5))
    assert (w2, h2, a2) == (pytest.approx(width), pytest.approx(height), pytest.approx(30))


def test_ellipse_agrees_with_numpy_and_holds_its_share_of_normal_points():
    rng = random.Random(3)
    points = []
    for _ in range(4000):
        u, v = rng.gauss(0, 1), rng.gauss(0, 1)
        points.append((2 + 3 * u, -1 + 1.5 * u + 0.5 * v))  # correlated
    (cx, cy), width, height, angle = confidence_ellipse(points, level=0.95)
    eigenvalues, vectors = np.linalg.eigh(np.cov(np.array(points).T))
    scale = math.sqrt(-2 * math.log(0.05))
    assert width == pytest.approx(2 * scale * math.sqrt(eigenvalues[1]))
    assert height == pytest.approx(2 * scale * math.sqrt(eigenvalues[0]))
    major = vectors[:, 1]
    assert math.tan(math.radians(angle)) == pytest.approx(major[1] / major[0])
    a, b, t = width / 2, height / 2, math.radians(angle)
    inside = sum(
        (((x - cx) * math.cos(t) + (y - cy) * math.sin(t)) / a) ** 2
        + ((-(x - cx) * math.sin(t) + (y - cy) * math.cos(t)) / b) ** 2 <= 1
        for x, y in points)
    assert 0.94 <= inside / len(points) <= 0.96


def test_ellipse_of_one_point_has_no_size():
    assert confidence_ellipse([(1.0, 2.0)]) == ((1.0, 2.0), 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        confidence_ellipse([])
