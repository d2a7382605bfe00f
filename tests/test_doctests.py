"""Every docstring example runs: a ``>>>`` line only in a module that ``make doctest`` covers.

An example that needs a broker, a running loop, a trained model or a network is prose instead:
a ``::`` block, which nothing runs and nobody mistakes for a session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("botwerk", "schemas", "infra", "cores", "transports", "workers", "tests", "bench")
PROMPT = re.compile(r"^\s*>>>", flags=re.M)
BARE_IMPORT = re.compile(
    r"^\s*(?:>>>|\.\.\.)\s+(?:from|import)\s+(?:schemas|infra|cores|transports|workers)\b",
    flags=re.M,
)

# Modules whose examples are not run yet: none; an entry here must name a file that has some.
PENDING: tuple[str, ...] = ()


def doctested() -> list[str]:
    """The Makefile's DOCTESTS, as written (``botwerk/...``)."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    value = re.search(r"^DOCTESTS\s*:=(.*)$", makefile, flags=re.M)
    assert value, "the Makefile has no `DOCTESTS :=` line"
    return value.group(1).split()


def with_examples() -> dict[str, str]:
    """Each source file holding a ``>>>`` line, by its real path from the root, to its text."""
    found = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if PROMPT.search(text):
                found[path.resolve().relative_to(ROOT).as_posix()] = text
    return found


def run_by_doctest() -> set[Path]:
    """Every file the DOCTESTS entries take in, through the botwerk/<folder> links, as pytest."""
    files = set()
    for entry in doctested():
        top = ROOT / entry
        if top.is_file():
            files.add(top.resolve())
        for folder, _, names in os.walk(top, followlinks=True):
            files.update((Path(folder) / n).resolve() for n in names if n.endswith(".py"))
    return files


def test_every_example_is_in_a_module_make_doctest_runs():
    run = run_by_doctest()
    stray = sorted(
        name
        for name in with_examples()
        if (ROOT / name).resolve() not in run and not name.startswith(PENDING)
    )
    assert not stray, (
        f"`>>>` examples that never run, in {stray}: add the module to DOCTESTS in the "
        "Makefile (and make its examples pass), or turn them into a `::` block"
    )


def test_doctests_import_each_module_once_under_its_botwerk_name():
    # `pytest --doctest-modules schemas/codec.py` would import a second copy, as schemas.codec.
    assert all(entry.split("/")[0] == "botwerk" for entry in doctested()), doctested()
    assert all((ROOT / entry).exists() for entry in doctested()), doctested()
    bare = sorted(name for name, text in with_examples().items() if BARE_IMPORT.search(text))
    assert not bare, f"examples importing a folder by its bare name (use botwerk.<folder>): {bare}"


def test_every_pending_entry_still_has_examples():
    examples = with_examples()
    done = [entry for entry in PENDING if not any(name.startswith(entry) for name in examples)]
    assert not done, f"no `>>>` left under {done}: take them off PENDING in {__file__}"
