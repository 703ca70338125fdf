"""The package's command-line entry points exist and run from any directory.

``tests/test_readme.py`` runs ``python -m train`` and ``python -m benchmarks.leaderboard``
from outside the repository; this checks the console scripts that pyproject.toml declares.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SCRIPTS = PROJECT["scripts"]


def test_the_commands_have_console_scripts():
    assert set(SCRIPTS) == {"marlgym-train", "marlgym-render", "marlgym-leaderboard"}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_console_script_names_a_main(name):
    module, _, function = SCRIPTS[name].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_benchmarks_package_and_its_grids_are_installed():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "benchmarks*" in tool["packages"]["find"]["include"]
    assert "*.yaml" in tool["package-data"]["benchmarks"]


def test_the_leaderboard_script_runs_outside_the_repository(tmp_path):
    script = Path(sys.executable).with_name("marlgym-leaderboard")
    if not script.exists():
        pytest.skip("the package's console scripts are not installed here (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--envs" in done.stdout


def test_the_licence_is_an_spdx_expression_not_the_deprecated_table():
    # setuptools warns that {text = "MIT"} stops building after 2027-02-18 (PEP 639)
    assert PROJECT["license"] == "MIT"
