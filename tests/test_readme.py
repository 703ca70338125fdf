"""The copy-paste examples of README.md run as written.

Blocks run in order in one scratch directory outside the repository, as in a user's own
project: a block whose first line is ``# file: NAME`` is written to NAME; other ``python``
blocks run as scripts, ``bash`` blocks with ``bash -e``. A block right after
``<!-- not-tested: why -->`` is skipped (long or cluster-only commands).

The blocks see the installed package only (no ``PYTHONPATH``), so ``python -m train`` and
``python -m benchmarks.leaderboard`` must work from any directory after ``pip install -e .``.
Where the environment's install is another checkout's (a git worktree sharing a virtualenv),
the repository goes on ``PYTHONPATH`` instead, so that the blocks test this checkout's code.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "README.md"
BLOCK = re.compile(
    r"(?P<skip><!--\s*not-tested[^>]*-->\s*\n)?```(?P<lang>[\w-]*)\n(?P<code>.*?)^```",
    re.DOTALL | re.MULTILINE,
)
FILE = re.compile(r"#\s*file:\s*(\S+)")


def blocks(text: str):
    """``(lang, code, skipped)`` for every fenced block, in order."""
    return [(m["lang"], m["code"], bool(m["skip"])) for m in BLOCK.finditer(text)]


def test_the_doc_has_examples_of_each_kind():
    found = blocks(DOC.read_text())
    langs = {lang for lang, _, skipped in found if not skipped}
    assert {"python", "bash", "yaml"} <= langs
    files = [
        FILE.match(code.splitlines()[0])[1]
        for _, code, _ in found
        if FILE.match(code.splitlines()[0])
    ]
    assert files == ["my_envs.py", "my_pz_envs.py", "my_grid.yaml"]


def installed_env(cwd: Path) -> dict[str, str]:
    """The environment for the blocks: no ``PYTHONPATH`` when this checkout is the install."""
    env = dict(
        os.environ,
        SDL_VIDEODRIVER="dummy",
        SDL_AUDIODRIVER="dummy",
        PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    )
    caller_path = env.pop("PYTHONPATH", "")
    where = subprocess.run(
        [sys.executable, "-c", "import train; print(train.__file__)"],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if where.returncode != 0:
        pytest.fail(f"the package is not installed (pip install -e .):\n{where.stderr[-2000:]}")
    if Path(where.stdout.strip()).resolve().parent != ROOT:  # another checkout's install
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), caller_path])
    return env


def test_the_examples_run(tmp_path):
    assert not tmp_path.resolve().is_relative_to(ROOT)
    env = installed_env(tmp_path)
    ran = 0
    for k, (lang, code, skipped) in enumerate(blocks(DOC.read_text())):
        header = FILE.match(code.splitlines()[0])
        if skipped:
            continue
        if header:
            (tmp_path / header[1]).write_text(code)
            continue
        if lang == "python":
            script = tmp_path / f"block_{k}.py"
            script.write_text(code)
            command = [sys.executable, str(script)]
        elif lang == "bash":
            command = ["bash", "-euo", "pipefail", "-c", code]
        else:
            continue
        done = subprocess.run(
            command, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            pytest.fail(
                f"block {k} ({lang}) failed with exit code {done.returncode}:\n{code}\n"
                f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            )
        ran += 1
    assert ran >= 3
    assert (tmp_path / "lamps_trained.gif").stat().st_size > 0
    assert (tmp_path / "results" / "lamps" / "results.json").is_file()
