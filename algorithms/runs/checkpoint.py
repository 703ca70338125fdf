"""Checkpoints: the learner's state and the trainer's, written atomically, checked on resume."""

from __future__ import annotations

import math
import os
import re

import torch
from omegaconf import OmegaConf

from algorithms.runs.config import TrainConfig
from algorithms.runs.files import atomic_path
from algorithms.runs.rundir import CHECKPOINT_DIR

CHECKPOINT_FORMAT = "marlgym-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_FILE = re.compile(r"update_\d+\.pt")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from (corrupt, from another run, or another format)."""


def initial_trainer_state() -> dict:
    """What a checkpoint keeps besides the learner, at the start of a run."""
    return {
        "next_eval": 0,
        "last_eval_step": -1,
        "best_return": -math.inf,
        "best_policy": None,
        "train_time": 0.0,
        "recent": [],
    }


def _identity(cfg: TrainConfig) -> dict:
    """The parts of a config that must match for a checkpoint to be resumed."""
    full = OmegaConf.to_container(OmegaConf.structured(cfg))
    return {"env": full["env"], "algo": full["algo"], "seed": full["seed"]}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def save_checkpoint(path: str, cfg: TrainConfig, learner, trainer_state: dict) -> None:
    """Write a checkpoint atomically: a temporary file in the same directory, then a rename."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "identity": _identity(cfg),
        "learner": learner.state_dict(),
        "trainer": trainer_state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def checkpoint_files(run_dir: str) -> list[str]:
    """The run's checkpoint files, oldest first."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    if not os.path.isdir(folder):
        return []
    names = sorted(f for f in os.listdir(folder) if CHECKPOINT_FILE.fullmatch(f))
    return [os.path.join(folder, f) for f in names]


def latest_checkpoint(run_dir: str) -> str:
    files = checkpoint_files(run_dir)
    if not files:
        folder = os.path.join(run_dir, CHECKPOINT_DIR)
        raise CheckpointError(f"{run_dir} has no checkpoints to resume from (looked in {folder})")
    return files[-1]


def save_run_checkpoint(run_dir: str, cfg: TrainConfig, learner, trainer_state: dict) -> str:
    """Save ``checkpoints/update_<n>.pt`` and remove all but the newest ``checkpoint.keep``."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    path = os.path.join(folder, f"update_{learner.updates:07d}.pt")
    save_checkpoint(path, cfg, learner, trainer_state)
    for old in checkpoint_files(run_dir)[: -cfg.checkpoint.keep]:
        os.remove(old)
    return path


def load_checkpoint(path: str, cfg: TrainConfig) -> dict:
    """Read and check a checkpoint against the run's config; raise CheckpointError saying why not."""
    try:
        # checkpoints pickle the env core: resume only runs you trust (your own)
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (whatever a damaged file raises, it is refused)
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {err}); "
            "refusing to resume from it"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a marlgym training checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, "
            f"this trainer reads version {CHECKPOINT_VERSION}"
        )
    saved, current = _flatten(payload["identity"]), _flatten(_identity(cfg))
    differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differ:
        detail = ", ".join(
            f"{k}: checkpoint {saved.get(k)!r} vs config {current.get(k)!r}" for k in differ[:5]
        )
        raise CheckpointError(
            f"checkpoint {path} does not match this run's config ({detail}); refusing to resume"
        )
    return payload


def restore(learner, path: str, cfg: TrainConfig) -> dict:
    """Load the checkpoint at ``path`` into ``learner``; return the trainer state it kept."""
    payload = load_checkpoint(path, cfg)
    try:
        learner.load_state_dict(payload["learner"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit this learner and env ({err}); refusing to resume"
        ) from None
    return payload["trainer"]


def run_dir_of(checkpoint_path: str) -> str:
    """The run directory a checkpoint file belongs to (``<run_dir>/checkpoints/update_n.pt``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(checkpoint_path)))
