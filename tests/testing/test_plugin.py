"""The shipped pytest plugin works where botwerk is installed plainly: no extras, no dev tools.

A fresh virtual environment gets pytest and a plain (non-editable) install of this checkout,
nothing else; a test file of an outside author then runs with the plugin's fixtures. The same
install shows that site-packages gains only ``botwerk``-named top-level packages.
"""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTEST = "pytest==9.2.0"  # the version of the dev extra

OUTSIDE_TEST = """
import importlib.util

def test_fixtures_of_the_plugin(settings, namespace):
    assert settings.namespace == namespace and namespace.startswith("bwt-")

def test_no_dev_package_is_there():
    assert importlib.util.find_spec("pytest_asyncio") is None
"""


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("plain-venv")
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-compile"]  # fmt: skip
    done = subprocess.run([*install, PYTEST, str(ROOT)], capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return python


@pytest.mark.slow
@pytest.mark.timeout(600)  # the first to use plain_env: a whole install, GloVe's 76 MB included
def test_an_outside_test_suite_collects_and_runs_with_the_plugin(plain_env, tmp_path):
    (tmp_path / "test_outside.py").write_text(OUTSIDE_TEST)
    collected = subprocess.run([str(plain_env), "-m", "pytest", "--co", "-q"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ran = subprocess.run([str(plain_env), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 passed" in ran.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_install_adds_only_botwerk_to_site_packages(plain_env, tmp_path):
    listing = subprocess.run(
        [str(plain_env), "-c", "import botwerk; print(botwerk.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    site = Path(listing.stdout.strip()).parent.parent
    ours = {"botwerk", "schemas", "infra", "cores", "transports", "workers", "tests"}
    assert {p.name for p in site.iterdir() if p.is_dir()} & ours == {"botwerk"}
    record = next(site.glob("botwerk-*.dist-info")) / "top_level.txt"
    assert record.read_text().split() == ["botwerk"]
    for folder in ("schemas", "infra", "cores", "transports", "workers"):
        assert (site / "botwerk" / folder / "__init__.py").is_file()
        assert not (site / "botwerk" / folder).is_symlink()
