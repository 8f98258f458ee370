"""Paired bootstrap of two submissions' per-image errors, and tie groups."""

from __future__ import annotations

import numpy as np
import pytest

from scorer import EXCLUDED, image_errors, paired_bootstrap, tie_groups


def test_image_errors_flat_top_k():
    outcomes = np.array([0, 1, 2, 5, 6], dtype=np.uint8)  # first correct guess, 0 = never
    wrong, included = image_errors(outcomes, "classification", 5)
    assert wrong.tolist() == [1, 0, 0, 0, 1] and included.all()
    wrong1, _ = image_errors(outcomes, "classification", 1)
    assert wrong1.tolist() == [1, 0, 1, 1, 1]


def test_image_errors_localization_excludes_blacklisted():
    outcomes = np.array([EXCLUDED, 1, 0], dtype=np.uint8)
    wrong, included = image_errors(outcomes, "localization", 5)
    assert included.tolist() == [False, True, True]
    assert wrong[included].tolist() == [0, 1]


def test_image_errors_hierarchical_is_the_cost():
    wrong, included = image_errors(np.array([0, 3, 18], dtype=np.uint8), "hierarchical", 5)
    assert wrong.tolist() == [0, 3, 18] and included.all()


def test_identical_submissions_are_not_different():
    a = np.random.default_rng(1).integers(0, 2, 500, dtype=np.uint8)
    result = paired_bootstrap(a, a.copy())
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert not result.significant


def test_clearly_worse_submission_is_significant():
    rng = np.random.default_rng(2)
    a = (rng.random(2000) < 0.20).astype(np.uint8)
    b = a | (rng.random(2000) < 0.10).astype(np.uint8)  # b wrong wherever a is, and more
    result = paired_bootstrap(a, b)
    assert result.difference == pytest.approx(b.mean() - a.mean())
    assert 0 < result.low < result.difference < result.high
    assert result.significant


def test_pairing_matters():
    """Two submissions whose errors differ on only 3 of 1000 images cannot be told
    apart, although an unpaired comparison of such close errors could not either;
    and the pairs that disagree decide the interval, not the shared mistakes."""
    a = np.zeros(1000, dtype=np.uint8)
    a[:300] = 1
    b = a.copy()
    b[300:303] = 1
    result = paired_bootstrap(a, b, seed=3)
    assert result.difference == pytest.approx(0.003)
    assert result.low >= 0 and result.high <= 0.01  # only the 3 discordant images vary
    assert not result.significant  # a resample can miss all three


def test_matches_a_plain_index_resampling_bootstrap():
    """Counts over distinct pairs are the same distribution as resampling image indices."""
    rng = np.random.default_rng(4)
    a = (rng.random(800) < 0.3).astype(np.uint8)
    b = np.where(rng.random(800) < 0.8, a, 1 - a).astype(np.uint8)
    fast = paired_bootstrap(a, b, bootstrap=4000, seed=5)
    index = np.random.default_rng(6).integers(0, 800, size=(4000, 800))
    diffs = (b[index].astype(float) - a[index]).mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert fast.low == pytest.approx(low, abs=0.006)
    assert fast.high == pytest.approx(high, abs=0.006)


def test_excluded_images_do_not_count():
    a = np.array([0, 0, 1, 1], dtype=np.uint8)
    b = np.array([1, 1, 1, 1], dtype=np.uint8)
    result = paired_bootstrap(a, b, np.array([False, False, True, True]))
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)


def test_hierarchical_costs():
    a = np.array([0, 2, 5, 5] * 50, dtype=np.uint8)
    b = np.array([1, 2, 6, 5] * 50, dtype=np.uint8)
    result = paired_bootstrap(a, b)
    assert result.difference == pytest.approx(0.5)
    assert result.significant


def test_seeded_and_reproducible():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2, 300, dtype=np.uint8)
    b = rng.integers(0, 2, 300, dtype=np.uint8)
    assert paired_bootstrap(a, b, seed=9) == paired_bootstrap(a, b, seed=9)


def test_different_image_counts_are_refused():
    with pytest.raises(ValueError, match="same images: 3 vs 4"):
        paired_bootstrap(np.zeros(3, np.uint8), np.zeros(4, np.uint8))


def test_tie_groups():
    assert tie_groups([]) == []
    assert tie_groups([True]) == [1]
    assert tie_groups([False, False, True, False, True]) == [1, 1, 2, 2, 3]


def test_interval_is_numpys_linear_percentile():
    """The interval's quantiles equal np.percentile on the same replicates."""
    rng = np.random.default_rng(8)
    a = rng.integers(0, 2, 400, dtype=np.uint8)
    b = rng.integers(0, 2, 400, dtype=np.uint8)
    result = paired_bootstrap(a, b, bootstrap=999, seed=11)
    code = a.astype(np.int64) * 256 + b
    counts = np.bincount(code)
    kinds = np.flatnonzero(counts)
    drawn = np.random.default_rng(11).multinomial(400, counts[kinds] / 400, size=999)
    stats = drawn @ (kinds % 256 - kinds // 256).astype(float) / 400
    low, high = np.percentile(stats, [2.5, 97.5])
    assert (result.low, result.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
