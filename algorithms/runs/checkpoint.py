"""Training checkpoints: the file format, atomic saves, finding the latest, checked loads.

A checkpoint (``runs/<name>/checkpoints/update_<7 digits>.pt``) holds the learner's
``state_dict`` (networks, optimisers, env copies, random generators: everything needed to
continue bit for bit), the trainer's own state (:func:`initial_trainer_state`) and the
config's identity (env, algo, seed), which must match for a resume. The env core is pickled,
so resume only runs you trust (your own).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import torch
from omegaconf import OmegaConf

from algorithms.base import Learner
from algorithms.runs.config import TrainConfig
from algorithms.runs.files import atomic_path

CHECKPOINT_FORMAT = "marlgym-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"update_\d+\.pt")


def initial_trainer_state() -> dict[str, Any]:
    """The trainer's part of a checkpoint (a plain dict) at the start of a run."""
    return {
        "next_eval": 0,  # env steps at which the next periodic evaluation is due
        "last_eval_step": -1,  # env steps of the last evaluation
        "best_return": -math.inf,  # the best mean evaluation return so far
        "best_policy": None,  # the policy state_dict that reached it
        "train_time": 0.0,  # seconds spent in learner updates
        "recent": [],  # the recent episode returns of the progress bar
    }


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from (corrupt, from another run, or another format)."""


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


def _checkpoint_files(folder: str) -> list[str]:
    """The checkpoint file names in ``folder``, oldest first."""
    return (
        sorted(f for f in os.listdir(folder) if _NAME.fullmatch(f)) if os.path.isdir(folder) else []
    )


def save_checkpoint(path: str, cfg: TrainConfig, learner: Learner, trainer_state: dict) -> None:
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


def save_run_checkpoint(
    run_dir: str, cfg: TrainConfig, learner: Learner, trainer_state: dict
) -> str:
    """Save ``checkpoints/update_<updates>.pt`` in ``run_dir``, keep the newest
    ``cfg.checkpoint.keep`` and remove older ones; return the new file's path."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    path = os.path.join(folder, f"update_{learner.updates:07d}.pt")
    save_checkpoint(path, cfg, learner, trainer_state)
    for old in _checkpoint_files(folder)[: -cfg.checkpoint.keep]:
        os.remove(os.path.join(folder, old))
    return path


def latest_checkpoint(run_dir: str) -> str:
    """The newest checkpoint file of a run directory; CheckpointError if it has none."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    files = _checkpoint_files(folder)
    if not files:
        raise CheckpointError(f"{run_dir} has no checkpoints to resume from (looked in {folder})")
    return os.path.join(folder, files[-1])


def run_dir_of(checkpoint: str) -> str:
    """The run directory a checkpoint file belongs to (``<run>/checkpoints/update_*.pt``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(checkpoint)))


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


def restore(learner: Learner, path: str, cfg: TrainConfig) -> dict[str, Any]:
    """Load checkpoint ``path`` into ``learner`` (checked against ``cfg``); return the trainer's state."""
    payload = load_checkpoint(path, cfg)
    try:
        learner.load_state_dict(payload["learner"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit this learner and env ({err}); refusing to resume"
        ) from None
    return payload["trainer"]
