"""Shared by the GPU test files (tests/test_gpu_*.py): whether CuPy and a CUDA device are
usable with this rankwise build, and the skip marker for the tests that need them."""

from __future__ import annotations

import importlib

import pytest


def gpu_present() -> bool:
    """rankwise._cuda was built, sees a device, and CuPy imports."""
    try:
        mod = importlib.import_module("rankwise._cuda")
        importlib.import_module("cupy")
    except ImportError:
        return False
    return bool(mod.device_count() > 0)


needs_gpu = pytest.mark.skipif(not gpu_present(), reason="needs a CUDA GPU and CuPy")
