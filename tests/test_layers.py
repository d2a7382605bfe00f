"""The layers contract holds, and would catch an import that points up or closes a cycle.

Each negative control copies the package, adds one forbidden import and runs import-linter on
the copy with this project's contracts: the run must fail and name the import.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is a dev dependency")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy shadows the installed package
    return subprocess.run(
        [str(LINT), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_project_keeps_its_contracts():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("infra/bus.py", "import botwerk.workers.store"),  # plumbing knowing a model
        ("schemas/codec.py", "import botwerk.infra.settings"),  # the wire knowing the plumbing
        ("cores/demo.py", "import botwerk.transports.console"),  # siblings stay apart
        ("workers/store.py", "import botwerk.cores.bot"),
        ("transports/console.py", "import botwerk.workers.store"),
        ("workers/store.py", "import botwerk.cli.app"),  # nothing imports the command line
        ("infra/bus.py", "import botwerk.testing.chat"),
    ],
)
def test_an_upward_or_sideways_import_breaks_the_layers(tmp_path, module, line):
    copy = tmp_path / "botwerk"
    shutil.copytree(ROOT / "botwerk", copy, symlinks=False)  # the links' targets, copied
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and line.split()[-1] in result.stdout


def test_an_import_cycle_breaks_the_acyclic_contract(tmp_path):
    copy = tmp_path / "botwerk"
    shutil.copytree(ROOT / "botwerk", copy, symlinks=False)
    (copy / "infra" / "cycle_a.py").write_text("import botwerk.infra.cycle_b  # noqa\n")
    (copy / "infra" / "cycle_b.py").write_text("import botwerk.infra.cycle_a  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "No cycles are allowed in botwerk.infra" in result.stdout


BARE = re.compile(r"^\s*(?:from|import) (?:schemas|infra|cores|transports|workers)\b", re.M)


def test_nothing_imports_a_folder_by_its_bare_name():
    """``import infra`` works in a checkout only, and loads a second copy of every module."""
    folders = ["botwerk/cli", "botwerk/testing", "schemas", "infra", "cores", "transports",
               "workers", "tests", "bench", "docs"]  # fmt: skip
    files = [path for folder in folders for path in (ROOT / folder).rglob("*.py")]
    bare = [f"{path.relative_to(ROOT)}: {m.group(0).strip()}" for path in files
            for m in BARE.finditer(path.read_text())]  # fmt: skip
    assert not bare, "import botwerk.<folder> instead:\n" + "\n".join(bare)
