"""``random_state`` handling: rankwise's sketches come from a Philox4x64-10 key of two 64-bit
words (the exception: ``randomized_svd`` draws scikit-learn's test matrix where it can)."""

from __future__ import annotations

import numbers

import numpy as np

RandomStateLike = None | int | np.integer | np.random.Generator | np.random.RandomState

_UINT64_MAX = np.iinfo(np.uint64).max


def philox_key(random_state: RandomStateLike, name: str = "random_state") -> tuple[int, int]:
    """Turn a scikit-learn style ``random_state`` into the core's Philox key.

    ``None`` draws fresh entropy; an int seeds deterministically (the same seed always gives
    the same key); a ``Generator`` or ``RandomState`` is advanced by two draws, as when
    scikit-learn passes one to a random function.
    """
    if random_state is None:
        words = np.random.SeedSequence().generate_state(2, np.uint64)
    elif isinstance(random_state, bool):
        raise ValueError(f"{name} must be None, an int, a Generator or a RandomState; got a bool")
    elif isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"{name} must be a non-negative integer seed; got {random_state}")
        words = np.random.SeedSequence(int(random_state)).generate_state(2, np.uint64)
    elif isinstance(random_state, np.random.Generator):
        words = random_state.integers(0, _UINT64_MAX, size=2, dtype=np.uint64, endpoint=True)
    elif isinstance(random_state, np.random.RandomState):
        words = random_state.randint(0, _UINT64_MAX, size=2, dtype=np.uint64)
    else:
        raise ValueError(
            f"{name} must be None, an int, a numpy.random.Generator or a "
            f"numpy.random.RandomState; got {random_state!r}"
        )
    return int(words[0]), int(words[1])
