"""Every example in the package's docstrings runs and prints what it shows (doctest), module
by module, so that a broken example anywhere fails here rather than in a user's hands."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest
import rankwise

MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(rankwise.__path__, prefix="rankwise.")
    if not name.endswith(("_core", "_cuda"))  # the native modules: no Python docstrings
)


def _shows_examples(obj: object, module: str) -> bool:
    """A public function or class of ``module`` (warnings and errors are shown elsewhere)."""
    if getattr(obj, "__module__", "") != module:
        return False
    return not (isinstance(obj, type) and issubclass(obj, BaseException))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
    public = [n for n in rankwise.__all__ if _shows_examples(getattr(rankwise, n), name)]
    if public:  # a module behind the public API shows at least one example
        assert result.attempted > 0, f"{name} defines {public} and has no docstring example"


def test_the_public_functions_have_examples() -> None:
    """Each public function of rankwise shows how it is called (the classes they return,
    warnings and errors are shown in those examples)."""
    functions = [name for name in rankwise.__all__ if inspect.isfunction(getattr(rankwise, name))]
    missing = [name for name in functions if ">>>" not in (getattr(rankwise, name).__doc__ or "")]
    assert len(functions) > 10
    assert not missing, f"no example in the docstring of {missing}"
