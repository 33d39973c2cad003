"""The benchmark's statistics: t quantiles and paired intervals."""

import math

import pytest

from bench.stats import mean_interval, paired, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (2, 4.303), (4, 2.776), (5, 2.571), (10, 2.228), (30, 2.042), (63, 1.998)],
)
def test_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=2e-3)


def test_paired_interval_is_the_interval_of_the_differences() -> None:
    a = [10.0, 12.0, 11.0, 13.0]
    b = [9.0, 10.0, 10.5, 11.5]
    d = paired(a, b)
    assert d.mean == pytest.approx(1.25)
    assert d.n == 4
    diffs = [1.0, 2.0, 0.5, 1.5]
    assert d.half == pytest.approx(mean_interval(diffs).half)
    assert d.low < d.mean < d.high


def test_one_value_has_no_interval() -> None:
    assert not math.isfinite(mean_interval([1.0]).half)
    with pytest.raises(ValueError, match="differ in length"):
        paired([1.0], [1.0, 2.0])
