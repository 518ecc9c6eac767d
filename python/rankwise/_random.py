"""``random_state`` handling: rankwise's sketches come from a Philox4x64-10 key of two 64-bit
words (the exception: ``randomized_svd`` draws scikit-learn's test matrix where it can)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

RandomStateLike = None | int | np.integer | np.random.Generator | np.random.RandomState

_UINT64_MAX = np.iinfo(np.uint64).max


def philox_key(random_state: RandomStateLike, name: str = "random_state") -> tuple[int, int]:
    """Turn a scikit-learn style ``random_state`` into the core's Philox key.

    ``None`` draws fresh entropy; an int seeds deterministically (the same seed always gives
    the same key); a ``Generator`` or ``RandomState`` is advanced by two draws, as when
    scikit-learn passes one to a random function.
    """
    check_random_state(random_state, name)
    if random_state is None:
        words = np.random.SeedSequence().generate_state(2, np.uint64)
    elif isinstance(random_state, numbers.Integral):
        words = np.random.SeedSequence(int(random_state)).generate_state(2, np.uint64)
    elif isinstance(random_state, np.random.Generator):
        words = random_state.integers(0, _UINT64_MAX, size=2, dtype=np.uint64, endpoint=True)
    else:
        words = random_state.randint(0, _UINT64_MAX, size=2, dtype=np.uint64)
    return int(words[0]), int(words[1])


def check_random_state(random_state: Any, name: str = "random_state") -> None:
    """What :func:`philox_key` takes, checked without drawing: None, a non-negative int (not
    a bool), a ``Generator`` or a ``RandomState``; ValueError otherwise."""
    if random_state is None or isinstance(
        random_state, np.random.Generator | np.random.RandomState
    ):
        return
    if isinstance(random_state, bool | np.bool_):
        raise ValueError(f"{name} must be None, an int, a Generator or a RandomState; got a bool")
    if not isinstance(random_state, numbers.Integral):
        raise ValueError(
            f"{name} must be None, an int, a numpy.random.Generator or a "
            f"numpy.random.RandomState; got {random_state!r}"
        )
    if random_state < 0:
        raise ValueError(f"{name} must be a non-negative integer seed; got {random_state}")
