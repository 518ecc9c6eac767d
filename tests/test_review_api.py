"""Findings of session 35's review of the public API against SciPy and scikit-learn, as a
user who trusts the documentation: svds' checks on small complex input and on rng given
twice, randomized_svd's random_state errors and the options dask/CuPy input cannot honour,
CGSolver options that its preconditioner would not read, no private keyword in public
signatures."""

from __future__ import annotations

import inspect
import typing
import warnings
from typing import Any

import numpy as np
import pytest
import rankwise
from rankwise._errors import InvalidParameterError


def _complex_matrix() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 20)) + 1j * rng.standard_normal((40, 20))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"return_singular_vectors": "x"}, ValueError),
        ({"ncv": 1}, ValueError),
        ({"tol": -1.0}, ValueError),
        ({"maxiter": 0}, ValueError),
        ({"v0": np.ones(7)}, ValueError),
        ({"v0": np.ones(20, dtype=int)}, ValueError),
        ({"rng": "x"}, TypeError),
    ],
)
def test_svds_checks_every_option_on_small_complex_input(
    options: dict[str, Any], error: type
) -> None:
    # Small complex input is solved by LAPACK; the options were not looked at there, so
    # return_singular_vectors="x" returned the whole tuple and a wrong v0 passed (SciPy
    # raises for each).
    with pytest.raises(error):
        rankwise.svds(_complex_matrix(), k=2, **options)


def test_svds_small_complex_input_with_valid_options_matches_lapack() -> None:
    C = _complex_matrix()
    s = rankwise.svds(C, k=3, ncv=10, tol=1e-8, v0=np.ones(20), rng=0, maxiter=5,
                      return_singular_vectors=False)  # fmt: skip
    np.testing.assert_allclose(s, np.linalg.svd(C, compute_uv=False)[:3][::-1], rtol=1e-12)


@pytest.mark.parametrize("complex_input", [False, True])
def test_svds_refuses_rng_and_random_state_together(complex_input: bool) -> None:
    A = _complex_matrix() if complex_input else _complex_matrix().real
    with pytest.raises(TypeError, match="one of `rng` or `random_state`"):
        rankwise.svds(A, k=2, rng=0, random_state=1)
    # either one alone is the seed
    a = rankwise.svds(A, k=2, rng=3, return_singular_vectors=False)
    b = rankwise.svds(A, k=2, random_state=3, return_singular_vectors=False)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", ["x", -1, 1.5, np.random.default_rng(0)])
def test_randomized_svd_bad_random_state_is_scikit_learns_error(seed: Any) -> None:
    A = np.random.default_rng(1).standard_normal((40, 20))
    if isinstance(seed, np.random.Generator):  # taken by rankwise (documented)
        rankwise.randomized_svd(A, 3, random_state=seed)
        return
    # a ValueError and a TypeError, as scikit-learn's InvalidParameterError
    with pytest.raises(InvalidParameterError, match="random_state"):
        rankwise.randomized_svd(A, 3, random_state=seed)


def test_randomized_svd_takes_a_bool_random_state_as_scikit_learn() -> None:
    # scikit-learn's check_random_state takes True as the seed 1
    A = np.random.default_rng(2).standard_normal((60, 30))
    for flag in (True, False):
        U, s, _Vt = rankwise.randomized_svd(A, 4, random_state=flag)
        U1, s1, _Vt1 = rankwise.randomized_svd(A, 4, random_state=int(flag))
        np.testing.assert_array_equal(s, s1)
        np.testing.assert_array_equal(U, U1)


def test_randomized_svd_on_dask_names_the_options_it_cannot_honour() -> None:
    da = pytest.importorskip("dask.array")
    A = da.from_array(np.random.default_rng(0).standard_normal((400, 30)), chunks=(100, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the defaults warn about nothing
        rankwise.randomized_svd(A, 5, random_state=0)
    for option in (
        {"flip_sign": False},
        {"transpose": True},
        {"power_iteration_normalizer": "QR"},
        {"svd_lapack_driver": "gesvd"},
    ):
        (name,) = option
        with pytest.warns(UserWarning, match=name):
            rankwise.randomized_svd(A, 5, random_state=0, **option)


def _laplacian_1d(n: int) -> np.ndarray:
    return 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"omega": 1.5}, "omega is only used with M='ssor'"),
        ({"M": "jacobi", "omega": 1.5}, "omega is only used with M='ssor'"),
        ({"degree": 8}, "degree is only used with M='chebyshev'"),
        ({"M": "ssor", "degree": 8}, "degree is only used with M='chebyshev'"),
        ({"harvest": 5}, "harvest is only used with recycle > 0"),
        ({"random_state": -1}, "random_state must be"),
        ({"random_state": "seed"}, "random_state must be"),
    ],
)
def test_cgsolver_refuses_options_that_would_be_ignored(
    options: dict[str, Any], message: str
) -> None:
    # omega without SSOR, degree without Chebyshev and harvest without recycling were
    # accepted and never read, while grid without learning was refused
    with pytest.raises(ValueError, match=message):
        rankwise.CGSolver(_laplacian_1d(20), **options)


def test_cgsolver_takes_the_options_where_they_apply() -> None:
    A, b = _laplacian_1d(30), np.ones(30)
    for options in (
        {"M": "ssor", "omega": 1.5},
        {"M": "chebyshev", "degree": 8},
        {"recycle": 2, "harvest": 5},
        {"random_state": np.random.default_rng(0)},
        {"random_state": None},
    ):
        res = rankwise.CGSolver(A, rtol=1e-10, **options).solve(b)
        assert res.converged
        assert np.linalg.norm(A @ res.x - b) <= 1e-9 * np.linalg.norm(b)


def test_update_methods_have_no_private_keyword_and_name_the_callers_argument() -> None:
    for method in (rankwise.SVDUpdater.add_rows, rankwise.SVDUpdater.add_columns):
        assert list(inspect.signature(method).parameters) == ["self", "E"]
    rng = np.random.default_rng(3)
    U, s, Vt = np.linalg.svd(rng.standard_normal((30, 20)), full_matrices=False)
    with pytest.raises(ValueError, match="rows must have n = 20 columns"):
        rankwise.update_svd(U[:, :5], s[:5], Vt[:5], rows=np.ones((2, 19)))
    with pytest.raises(ValueError, match="cols must have m = 30 rows"):
        rankwise.update_svd(U[:, :5], s[:5], Vt[:5], cols=np.ones((29, 2)))
    up = rankwise.SVDUpdater(5).from_factors(U[:, :5], s[:5], Vt[:5])
    with pytest.raises(ValueError, match="E must have n = 20 columns"):
        up.add_rows(np.ones((2, 19)))


@pytest.mark.parametrize(
    "function",
    [
        rankwise.svd,
        rankwise.randomized_svd,
        rankwise.cur,
        rankwise.cg,
        rankwise.update_svd,
        rankwise.deim,
        rankwise.qdeim,
        rankwise.odeim,
    ],
)
def test_return_types_are_numpy_only_for_host_input(function: Any) -> None:
    """CuPy and dask input give CuPy / dask results: the annotations say NumPy only where the
    argument is a host array, and otherwise Any (typing.overload).  Each overload takes the
    implementation's parameters, in order, with the same kinds."""
    overloads = typing.get_overloads(function)
    assert len(overloads) == 2
    implementation = inspect.signature(function)
    host, other = (inspect.signature(f) for f in overloads)
    for signature in (host, other):
        assert [(p.name, p.kind) for p in signature.parameters.values()] == [
            (p.name, p.kind) for p in implementation.parameters.values()
        ]
    first = next(iter(implementation.parameters))
    assert host.parameters[first].annotation in ("HostMatrix", "np.ndarray")
    assert other.parameters[first].annotation == "Any"
    assert "Any" not in host.return_annotation
    assert other.return_annotation == implementation.return_annotation


def test_randomized_svd_takes_an_object_array_of_numbers_as_scikit_learn() -> None:
    """An object array of floats (pandas' .values of a mixed frame; found by review):
    scikit-learn converts it to float64, the drop-in raised TypeError; non-numbers are a
    ValueError, as in scikit-learn.  rankwise.svd keeps refusing object dtype."""
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

    M = np.random.default_rng(0).standard_normal((30, 20))
    s = rankwise.randomized_svd(M.astype(object), 3, random_state=0)[1]
    assert s.dtype == np.float64
    np.testing.assert_array_equal(s, rankwise.randomized_svd(M, 3, random_state=0)[1])
    np.testing.assert_allclose(s, sk_randomized_svd(M.astype(object), 3, random_state=0)[1])
    with pytest.raises(ValueError, match="not real numbers"):
        rankwise.randomized_svd(np.array([["a", "b"], ["c", "d"]], dtype=object), 1)
