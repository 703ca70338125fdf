"""Atomic writes: the old file survives a failed write, and no temporary file is left behind."""

import os

import pytest

from algorithms.runs.files import atomic_path, write_text_atomic


def test_write_replaces_the_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_readme_block_is_replaced_atomically(tmp_path):
    from benchmarks.leaderboard import copy_into_readme

    path = tmp_path / "README.md"
    path.write_text("intro\n<!-- leaderboard:x -->\nold\n<!-- /leaderboard:x -->\nend\n")
    copy_into_readme(str(path), "x", ["## Table", "| a |"])
    assert (
        path.read_text()
        == "intro\n<!-- leaderboard:x -->\n**Table**\n| a |\n<!-- /leaderboard:x -->\nend\n"
    )
    assert os.listdir(tmp_path) == ["README.md"]
