"""Targets for the crash-resume tests' child processes: a light module, preloaded by a forkserver."""

import train


def train_run(config_file: str, overrides: list[str]) -> None:
    """Train a run in this (child) process; the test kills it at some point."""
    train.train(train.load_config(config_file, overrides))
