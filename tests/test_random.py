"""Philox4x64-10 stream of the C++ core, and ``random_state`` handling."""

from __future__ import annotations

import numpy as np
import pytest
import rankwise
import scipy.sparse as sp
from conftest import assert_svd_output, make_problem
from numpy.testing import assert_array_equal
from rankwise import _core

MASK64 = (1 << 64) - 1

# Known-answer vectors of Random123 (kat_vectors, philox4x64 with 10 rounds):
# (counter words, key words, output words), word 0 first.
RANDOM123_KAT = [
    (
        (0, 0, 0, 0),
        (0, 0),
        (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B),
    ),
    (
        (MASK64, MASK64, MASK64, MASK64),
        (MASK64, MASK64),
        (0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0),
    ),
    (
        (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89),
        (0x452821E638D01377, 0xBE5466CF34E90C6C),
        (0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6),
    ),
]


def _words_to_int(words: tuple[int, ...]) -> int:
    return sum(int(w) << (64 * i) for i, w in enumerate(words))


def _int_to_words(v: int) -> list[int]:
    v %= 1 << 256
    return [(v >> (64 * i)) & MASK64 for i in range(4)]


def numpy_philox_raw(key: tuple[int, int], counter: tuple[int, ...], n_blocks: int) -> np.ndarray:
    """numpy's raw Philox stream starting AT `counter` (numpy increments before use)."""
    before = np.array(_int_to_words(_words_to_int(counter) - 1), dtype=np.uint64)
    bg = np.random.Philox(key=np.array(key, dtype=np.uint64), counter=before)
    return bg.random_raw(4 * n_blocks)


@pytest.mark.parametrize(("counter", "key", "expected"), RANDOM123_KAT)
def test_philox_random123_known_answers(counter, key, expected) -> None:
    out = _core.philox4x64_raw(list(key), list(counter), 1)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint64
    assert out.shape == (4,)
    assert_array_equal(out, np.array(expected, dtype=np.uint64))


@pytest.mark.parametrize(("counter", "key", "expected"), RANDOM123_KAT)
def test_numpy_reference_agrees_with_random123(counter, key, expected) -> None:
    # Validates the numpy-based reference used below (counter offset by one).
    assert_array_equal(numpy_philox_raw(key, counter, 1), np.array(expected, dtype=np.uint64))


def _random_cases() -> list[tuple[tuple[int, int], tuple[int, ...], int]]:
    rng = np.random.default_rng(20240607)
    cases = []
    for _ in range(6):
        key = tuple(
            int(x) for x in rng.integers(0, MASK64, size=2, dtype=np.uint64, endpoint=True)
        )
        ctr = tuple(
            int(x) for x in rng.integers(0, MASK64, size=4, dtype=np.uint64, endpoint=True)
        )
        cases.append((key, ctr, int(rng.integers(1, 40))))
    key = (0x0123456789ABCDEF, 0xFEDCBA9876543210)
    # carries: word 0 overflows into word 1, into words 2 and 3, and the full 256-bit wrap
    cases += [
        (key, (MASK64, 0, 0, 0), 3),
        (key, (MASK64 - 1, 5, 0, 0), 4),
        (key, (MASK64, MASK64, 0, 7), 3),
        (key, (MASK64, MASK64, MASK64, 0), 2),
        (key, (MASK64, MASK64, MASK64, MASK64), 3),
        ((0, 0), (0, 0, 0, 0), 1000),
        ((MASK64, 1), (MASK64 - 500, 0, 0, 0), 1000),
    ]
    return cases


@pytest.mark.parametrize(("key", "counter", "n_blocks"), _random_cases())
def test_philox_matches_numpy(key, counter, n_blocks) -> None:
    out = _core.philox4x64_raw(list(key), list(counter), n_blocks)
    assert out.dtype == np.uint64
    assert out.shape == (4 * n_blocks,)
    assert_array_equal(out, numpy_philox_raw(key, counter, n_blocks))


def test_philox_counter_contract_with_numpy_counter() -> None:
    # The documented relation: numpy with counter=c gives rankwise's stream at c+1.
    key = (12345, 67890)
    c = 41
    numpy_out = np.random.Philox(key=np.array(key, dtype=np.uint64), counter=c).random_raw(8)
    assert_array_equal(_core.philox4x64_raw(list(key), [c + 1, 0, 0, 0], 2), numpy_out)


def test_philox_accepts_tuples() -> None:
    key, counter = (7, 8), (1, 2, 3, 4)
    assert_array_equal(
        _core.philox4x64_raw(key, counter, 5), _core.philox4x64_raw(list(key), list(counter), 5)
    )


# --------------------------------------------------------------------------- #
# random_state
# --------------------------------------------------------------------------- #

# An approximate regime (slow decay, no power iteration), where the result
# depends on the sketch and so on the seed.
K = 5


def _approx_input() -> np.ndarray:
    return np.array(make_problem("poly", 120, 80).A)


@pytest.mark.parametrize(
    "random_state",
    [None, 0, 7, 2**40, np.random.default_rng(3), np.random.RandomState(3)],
    ids=["None", "int0", "int7", "bigint", "Generator", "RandomState"],
)
@pytest.mark.parametrize("method", ["subspace", "block_krylov"])
def test_random_state_kinds_accepted(random_state, method) -> None:
    A = _approx_input()
    U, s, Vt = rankwise.svd(A, K, method=method, n_iter=0, random_state=random_state)
    assert_svd_output(U, s, Vt, A.shape, K, np.float64)


@pytest.mark.parametrize("method", ["subspace", "block_krylov"])
@pytest.mark.parametrize("kind", ["int", "Generator", "RandomState"])
def test_same_seed_bitwise_identical(method, kind) -> None:
    A = _approx_input()

    def state():
        return {
            "int": 123,
            "Generator": np.random.default_rng(123),
            "RandomState": np.random.RandomState(123),
        }[kind]

    r1 = rankwise.svd(A, K, method=method, n_iter=1, random_state=state())
    r2 = rankwise.svd(A, K, method=method, n_iter=1, random_state=state())
    for a, b in zip(r1, r2, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["subspace", "block_krylov"])
def test_different_seeds_differ_but_are_valid(method) -> None:
    A = _approx_input()
    U1, s1, V1 = rankwise.svd(A, K, method=method, n_iter=0, random_state=1)
    U2, s2, V2 = rankwise.svd(A, K, method=method, n_iter=0, random_state=2)
    assert_svd_output(U1, s1, V1, A.shape, K, np.float64)
    assert_svd_output(U2, s2, V2, A.shape, K, np.float64)
    # the sketch must depend on the seed
    assert not np.array_equal(s1, s2)


def test_none_seed_gives_fresh_sketches() -> None:
    A = _approx_input()
    s_list = [rankwise.svd(A, K, n_iter=0, random_state=None)[1] for _ in range(3)]
    assert not (np.array_equal(s_list[0], s_list[1]) and np.array_equal(s_list[1], s_list[2]))


@pytest.mark.parametrize(
    "bad", ["abc", 1.5, object(), [1, "x"]], ids=["str", "float", "object", "list"]
)
def test_invalid_random_state_svd(bad) -> None:
    with pytest.raises(ValueError, match="random_state"):
        rankwise.svd(_approx_input(), K, random_state=bad)


@pytest.mark.parametrize("bad", ["abc", 1.5], ids=["str", "float"])
def test_invalid_random_state_tol_mode(bad) -> None:
    with pytest.raises(ValueError, match="random_state"):
        rankwise.svd(_approx_input(), tol=0.1, random_state=bad)


@pytest.mark.parametrize("bad", ["abc", 1.5], ids=["str", "float"])
def test_invalid_random_state_estimate_error(bad) -> None:
    A = _approx_input()
    U, s, Vt = rankwise.svd(A, K, random_state=0)
    with pytest.raises(ValueError, match="random_state"):
        rankwise.estimate_error(A, U, s, Vt, random_state=bad)


@pytest.mark.parametrize(
    "make",
    [lambda A: A, lambda A: sp.csr_array(A)],
    ids=["dense", "csr"],
)
def test_same_seed_bitwise_identical_tol_mode(make) -> None:
    A = make(_approx_input())
    r1 = rankwise.svd(A, tol=0.2, random_state=99)
    r2 = rankwise.svd(A, tol=0.2, random_state=99)
    for a, b in zip(r1, r2, strict=True):
        assert_array_equal(a, b)


def test_estimate_error_same_seed_identical() -> None:
    A = _approx_input()
    U, s, Vt = rankwise.svd(A, K, random_state=0)
    for norm in ("fro", "2"):
        e1 = rankwise.estimate_error(A, U, s, Vt, norm=norm, random_state=5)
        e2 = rankwise.estimate_error(A, U, s, Vt, norm=norm, random_state=5)
        assert e1 == e2
