"""rankwise.interpolative at the ends of the float range and on empty input (an
acceptance review, session 44): the power method's norms squared entries of ||A||^2 and
returned 0.0 for ||A|| = 3e80, a third of the norm below 1e-90; estimate_rank read the
first singular value of an empty matrix and took eps unchecked."""

from __future__ import annotations

import numpy as np
import pytest
from rankwise import interpolative as ri


@pytest.mark.parametrize("scale", [1e300, 1e160, 1e80, 1.0, 1e-100, 1e-200, 1e-300, 1e-310])
def test_spectral_norm_estimates_at_any_magnitude(scale: float) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 30))
    norm = np.linalg.norm(A, 2)
    A = A * scale
    got = ri.estimate_spectral_norm(A, its=60, rng=0)
    assert abs(got / scale - norm) <= 1e-3 * norm  # (power method, 60 steps)
    diff = ri.estimate_spectral_norm_diff(A, 0.5 * A, its=60, rng=0)
    assert abs(diff / scale - 0.5 * norm) <= 1e-3 * norm


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_estimate_rank_of_an_empty_matrix_is_zero(shape: tuple[int, int]) -> None:
    assert ri.estimate_rank(np.zeros(shape), 1e-6) == 0


def test_estimate_rank_checks_eps() -> None:
    with pytest.raises(ValueError, match="eps must be a non-negative finite number"):
        ri.estimate_rank(np.eye(5), float("nan"))
    with pytest.raises(ValueError, match="eps must be a non-negative finite number"):
        ri.estimate_rank(np.eye(5), -1e-3)
    with pytest.raises(TypeError, match="eps must be a real number"):
        ri.estimate_rank(np.eye(5), "a")  # type: ignore[arg-type]
    assert ri.estimate_rank(np.diag([1.0, 1e-3, 1e-12]), np.array(1e-9), rng=0) == 2


def test_power_steps_beyond_a_c_int_are_refused() -> None:
    """its = 2**31 ran for ever (SciPy raises OverflowError)."""
    with pytest.raises(ValueError, match="its"):
        ri.estimate_spectral_norm(np.eye(3), its=2**31)
