"""Run scikit-learn's and SciPy's own test suites against rankwise's drop-ins.

Not a pytest module: run it as ``python tests/peer_suites.py``.

* scikit-learn: ``sklearn/utils/tests/test_extmath.py`` from the installed
  scikit-learn, the tests whose name contains ``randomized_svd``, with the
  module-level name ``randomized_svd`` patched to ``rankwise.randomized_svd``.
* SciPy: ``scipy/sparse/linalg/_eigen/tests/test_svds.py`` from the installed
  SciPy, with the module-level name ``svds`` patched to ``rankwise.svds``; the
  classes for SciPy's solvers (Test_SVDS_ARPACK, _LOBPCG, _PROPACK) then run
  through ``rankwise.svds(..., solver=...)``, and an added class
  ``Test_SVDS_RANKWISE(SVDSCommonTests)`` runs the common tests with
  ``solver='rankwise'``.

Each file is copied to a temporary directory and run by pytest in a
subprocess, with a conftest.py that applies the patch and a pytest.ini close to
the upstream projects' settings (warnings are errors).  With ``--baseline``
(default on) the same files also run unpatched, so failures that are not
rankwise's can be told apart.  Prints one summary line per suite (and per
SciPy test class): passed / failed / skipped / xfailed counts and the names of
the failing tests with the first line of their message.

Exit status: 0 if every patched suite passed, 1 otherwise, 2 on a harness error.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PYTEST_INI = textwrap.dedent(
    """\
    [pytest]
    addopts = -p no:cacheprovider
    filterwarnings =
        error
        ignore::pytest.PytestRemovedIn10Warning
        ignore:Can't check dok sparse matrix for nan or inf:UserWarning
    markers =
        parallel_threads_limit: scipy's pytest-run-parallel marker
        thread_unsafe: scipy's pytest-run-parallel marker
        slow: scipy/sklearn marker
        xslow: scipy marker
        fail_slow: scipy marker
    """
)

CONFTEST = textwrap.dedent(
    """\
    import os

    import pytest

    _TARGET = os.environ.get("PEER_TARGET", "rankwise")
    _NAME = os.environ["PEER_NAME"]


    @pytest.fixture(autouse=True)
    def _use_rankwise(request, monkeypatch):
        if _TARGET == "rankwise" and request.module is not None:
            import rankwise

            monkeypatch.setattr(request.module, _NAME, getattr(rankwise, _NAME))
        yield
    """
)

RANKWISE_CLASS = textwrap.dedent(
    """


    # --- added by rankwise/tests/peer_suites.py ---
    class Test_SVDS_RANKWISE(SVDSCommonTests):

        def setup_method(self):
            self.solver = 'rankwise'

        def test_svds_parameter_tol(self):
            # SciPy's version reads per-solver accuracies from a table that has no
            # 'rankwise' row; the same problem, with rankwise's promise as the row:
            # singular values at least as accurate (relative) as tol asks.
            n, k = 100, 3
            rng = np.random.default_rng(0)
            A = rng.random((n, n))
            A[A > .1] = 0
            A = A @ A.T
            _, s, _ = svd(A)
            A = csc_array(A)
            for tol in [1e-4, 1e-2, 1e0]:
                _, s2, _ = svds(A, k=k, v0=np.ones(n), maxiter=1000,
                                solver=self.solver, tol=tol, rng=0)
                error = np.linalg.norm((s2 - s[k-1::-1]) / s[k-1::-1])
                assert error < tol
    """
)


@dataclass
class Outcome:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    xfailed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"passed={len(self.passed)} failed={len(self.failed)} "
            f"skipped={len(self.skipped)} xfailed={len(self.xfailed)}"
        )


@dataclass
class SuiteSpec:
    title: str
    module: str  # dotted module whose file is copied
    patch_name: str
    select: str | None  # -k expression
    add_rankwise_class: bool = False


SUITES = [
    SuiteSpec(
        "scikit-learn randomized_svd (sklearn/utils/tests/test_extmath.py -k randomized_svd)",
        "sklearn.utils.tests.test_extmath",
        "randomized_svd",
        "randomized_svd",
    ),
    SuiteSpec(
        "SciPy svds (scipy/sparse/linalg/_eigen/tests/test_svds.py)",
        "scipy.sparse.linalg._eigen.tests.test_svds",
        "svds",
        None,
        add_rankwise_class=True,
    ),
]


def _module_file(dotted: str) -> Path:
    spec = importlib.util.find_spec(dotted)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"cannot find {dotted} (is the package installed with its tests?)")
    return Path(spec.origin)


def _first_line(text: str | None) -> str:
    for ln in (text or "").splitlines():
        ln = ln.strip()
        if ln:
            return ln[:160]
    return ""


def _parse_junit(path: Path) -> dict[str, Outcome]:
    """Outcomes grouped by test class ('' for module-level tests)."""
    groups: dict[str, Outcome] = defaultdict(Outcome)
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        cls = classname.split(".")[-1] if "." in classname else ""
        name = f"{cls}::{case.get('name')}" if cls else str(case.get("name"))
        out = groups[cls]
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        if failure is not None or error is not None:
            node = failure if failure is not None else error
            assert node is not None
            msg = node.get("message") or node.text
            out.failed.append((name, _first_line(msg)))
        elif skipped is not None:
            if (skipped.get("type") or "") == "pytest.xfail":
                out.xfailed.append(name)
            else:
                out.skipped.append(name)
        else:
            out.passed.append(name)
    return groups


def run_suite(spec: SuiteSpec, target: str, timeout: int) -> tuple[dict[str, Outcome], str]:
    src = _module_file(spec.module)
    with tempfile.TemporaryDirectory(prefix="rankwise-peer-") as tmp:
        tmpdir = Path(tmp)
        dst = tmpdir / src.name
        text = src.read_text()
        if spec.add_rankwise_class and target == "rankwise":
            text += RANKWISE_CLASS
        dst.write_text(text)
        (tmpdir / "conftest.py").write_text(CONFTEST)
        (tmpdir / "pytest.ini").write_text(PYTEST_INI)
        junit = tmpdir / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-rN", str(dst), f"--junitxml={junit}"]
        if spec.select:
            cmd += ["-k", spec.select]
        env = dict(os.environ, PEER_TARGET=target, PEER_NAME=spec.patch_name)
        try:
            proc = subprocess.run(
                cmd, cwd=tmpdir, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {}, f"timed out after {timeout} s"
        if not junit.exists():
            tail = (proc.stdout + proc.stderr)[-2000:]
            return {}, f"pytest exited with {proc.returncode} and no report:\n{tail}"
        return _parse_junit(junit), ""


def _print_outcome(label: str, out: Outcome, baseline: Outcome | None) -> None:
    extra = f"   [upstream baseline: {baseline.line()}]" if baseline is not None else ""
    print(f"  {label}: {out.line()}{extra}")
    base_failed = {n for n, _ in baseline.failed} if baseline is not None else set()
    for name, msg in out.failed:
        tag = " (fails upstream too)" if name in base_failed else ""
        print(f"      FAILED {name}{tag}: {msg}")
    if len(out.failed) > 3:
        causes: dict[str, int] = defaultdict(int)
        for _, msg in out.failed:
            causes[msg[:90]] += 1
        print("    failures by cause:")
        for msg, count in sorted(causes.items(), key=lambda kv: -kv[1]):
            print(f"      {count:4d} x {msg}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-baseline", action="store_true", help="do not also run the unpatched suites"
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds per suite run")
    args = parser.parse_args(argv)

    try:
        import rankwise  # noqa: F401
    except ImportError as exc:
        print(f"cannot import rankwise: {exc}")
        return 2

    all_ok = True
    for spec in SUITES:
        print(spec.title)
        got, err = run_suite(spec, "rankwise", args.timeout)
        if err:
            print(f"  HARNESS ERROR (rankwise run): {err}")
            all_ok = False
            continue
        base: dict[str, Outcome] = {}
        if not args.no_baseline:
            base, berr = run_suite(spec, "upstream", args.timeout)
            if berr:
                print(f"  (baseline run failed: {berr})")
        total = Outcome()
        for out in got.values():
            total.passed += out.passed
            total.failed += out.failed
            total.skipped += out.skipped
            total.xfailed += out.xfailed
        btotal: Outcome | None = None
        if base:
            btotal = Outcome()
            for out in base.values():
                btotal.passed += out.passed
                btotal.failed += out.failed
                btotal.skipped += out.skipped
                btotal.xfailed += out.xfailed
        if len(got) > 1:
            print(f"  total: {total.line()}")
            for cls in sorted(got):
                label = cls or "(module-level tests)"
                if cls == "Test_SVDS_RANKWISE":
                    label += " [solver='rankwise', rankwise.svds's default]"
                elif cls.startswith("Test_SVDS_") and cls != "Test_SVDS_once":
                    label += " [scipy solver, called through rankwise.svds]"
                _print_outcome(label, got[cls], base.get(cls) if base else None)
        else:
            _print_outcome("total", total, btotal)
        all_ok = all_ok and not total.failed
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
