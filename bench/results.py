"""Rewrite the auto-generated sections of ``bench/RESULTS.md``.

Each (mode, family) pair owns the text between its two markers::

    <!-- bench:begin quick svd -->
    ...generated...
    <!-- bench:end quick svd -->

Everything outside the markers is hand-written and kept. A pair without
markers yet gets a new section appended at the end of the file.
"""

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def markers(mode: str, family: str) -> tuple[str, str]:
    """Begin and end marker of the (mode, family) section."""
    return f"<!-- bench:begin {mode} {family} -->", f"<!-- bench:end {mode} {family} -->"


def update(mode: str, family: str, body: str, path: Path = RESULTS) -> None:
    """Replace the generated text of (mode, family) in ``path`` by ``body``."""
    begin, end = markers(mode, family)
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = f"{text.rstrip()}\n\n## {family}, {mode} mode\n\n{block}\n"
    path.write_text(text)
