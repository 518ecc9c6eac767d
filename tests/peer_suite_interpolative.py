"""Run SciPy's own tests of scipy.linalg.interpolative against rankwise.interpolative.

Not a pytest module: run it as ``python tests/peer_suite_interpolative.py``.

``scipy/linalg/tests/test_interpolative.py`` from the installed SciPy is copied to a
temporary directory with its two imports of ``scipy.linalg.interpolative`` pointed at
``rankwise.interpolative`` (nothing else changes), and run by pytest in a subprocess with
warnings as errors; the unmodified file runs too, as the baseline.  Prints one line per
run: the pytest summary.  Exit status 0 if the rankwise run passed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings =\n    error\n"
IMPORTS = {
    "import scipy.linalg.interpolative as pymatrixid": (
        "import rankwise.interpolative as pymatrixid"
    ),
    "from scipy.linalg.interpolative import interp_decomp": (
        "from rankwise.interpolative import interp_decomp"
    ),
}


def source() -> str:
    spec = importlib.util.find_spec("scipy.linalg")
    if spec is None or spec.origin is None:
        raise RuntimeError("scipy.linalg not found")
    return (Path(spec.origin).parent / "tests" / "test_interpolative.py").read_text()


def run(text: str, label: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pytest.ini").write_text(PYTEST_INI)
        Path(tmp, "test_interpolative.py").write_text(text)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "test_interpolative.py"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = proc.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith("FAILED")]
    print(f"{label}: {lines[-1] if lines else proc.stderr.strip()[-200:]}")
    for line in failures:
        print(f"  {line}")
    return proc.returncode


def main() -> int:
    original = source()
    patched = original
    for old, new in IMPORTS.items():
        if old not in patched:
            print(f"harness error: '{old}' not found in SciPy's test file")
            return 2
        patched = patched.replace(old, new)
    status = run(patched, "scipy test_interpolative.py -> rankwise.interpolative")
    run(original, "scipy test_interpolative.py -> scipy (baseline)")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
