"""Run SciPy's own tests of ``cg`` against ``rankwise.cg``.

Not a pytest module: run it as ``python tests/peer_suite_cg.py``.

SciPy's ``scipy/sparse/linalg/_isolve/tests/test_iterative.py`` builds its cases from a
module-level list of solver functions (``_SOLVERS``), so patching the name ``cg`` (as
tests/peer_suites.py does for svds) would not reach them.  Instead the installed file is
copied with ``_SOLVERS = [cg]`` inserted after that list, ``cg`` bound to ``rankwise.cg``
(or left as SciPy's for the baseline run), and the tests that exercise only other solvers
(tfqmr's ``test_show``, ``TestQMR``, ``TestGMRES``) deselected.  The outcome counts use the
helpers of tests/peer_suites.py.

Exit status: 0 if every test passed against rankwise, 1 otherwise, 2 on a harness error.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from peer_suites import PYTEST_INI, Outcome, _module_file, _parse_junit, _print_outcome

MODULE = "scipy.sparse.linalg._isolve.tests.test_iterative"
DESELECT = "not test_show and not TestQMR and not TestGMRES"
PATCH = """

# --- added by rankwise/tests/peer_suite_cg.py: only cg, rankwise's unless baseline ---
if __import__("os").environ.get("PEER_TARGET") == "rankwise":
    from rankwise import cg
_SOLVERS = [cg]
"""


def patched_source(text: str) -> str:
    match = re.search(r"^_SOLVERS = \[[^\]]*\]\n", text, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError("test_iterative.py has no module-level _SOLVERS list")
    return text[: match.end()] + PATCH + text[match.end() :]


def run(target: str, timeout: int) -> tuple[Outcome, str]:
    src = _module_file(MODULE)
    with tempfile.TemporaryDirectory(prefix="rankwise-peer-cg-") as tmp:
        tmpdir = Path(tmp)
        dst = tmpdir / src.name
        dst.write_text(patched_source(src.read_text()))
        (tmpdir / "pytest.ini").write_text(PYTEST_INI)
        junit = tmpdir / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-rN", str(dst), f"--junitxml={junit}"]
        cmd += ["-k", DESELECT]
        env = dict(os.environ, PEER_TARGET=target)
        try:
            proc = subprocess.run(
                cmd, cwd=tmpdir, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return Outcome(), f"timed out after {timeout} s"
        if not junit.exists():
            tail = (proc.stdout + proc.stderr)[-2000:]
            return Outcome(), f"pytest exited with {proc.returncode} and no report:\n{tail}"
        total = Outcome()
        for out in _parse_junit(junit).values():
            total.passed += out.passed
            total.failed += out.failed
            total.skipped += out.skipped
            total.xfailed += out.xfailed
        return total, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-baseline", action="store_true", help="skip the unpatched run")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per run")
    args = parser.parse_args(argv)
    print("SciPy cg (scipy/sparse/linalg/_isolve/tests/test_iterative.py, _SOLVERS = [cg])")
    got, err = run("rankwise", args.timeout)
    if err:
        print(f"  HARNESS ERROR (rankwise run): {err}")
        return 2
    base: Outcome | None = None
    if not args.no_baseline:
        base, berr = run("upstream", args.timeout)
        if berr:
            print(f"  (baseline run failed: {berr})")
            base = None
    _print_outcome("rankwise.cg", got, base)
    return 0 if not got.failed else 1


if __name__ == "__main__":
    sys.exit(main())
