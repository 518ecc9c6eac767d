"""Import optional peers without failing: a missing peer is skipped, with a note."""

import importlib
from types import ModuleType


def optional_import(name: str) -> ModuleType | str:
    """The module ``name``, or the reason it cannot be imported."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install raising anything
        return f"cannot import {name}: {type(exc).__name__}: {exc}"
