"""The run directory ``<log.dir>/<run_name>/``: its name and its creation.

What goes in it: ``config.yaml`` (the resolved config), TensorBoard event files,
``metrics.jsonl`` (:mod:`~algorithms.runs.logger`), ``checkpoints/``
(:mod:`~algorithms.runs.checkpoint`), ``policy.pt`` and ``policy_best.pt`` (standalone
policies, :class:`agents.policy.Policy`) and ``eval.json`` (:mod:`~algorithms.runs.evaluation`).
"""

from __future__ import annotations

import os
import time

from algorithms.runs.checkpoint import CHECKPOINT_DIR
from algorithms.runs.config import CONFIG_FILE, ConfigError, TrainConfig

__all__ = [
    "BEST_POLICY_FILE",
    "CONFIG_FILE",
    "EVAL_FILE",
    "POLICY_FILE",
    "default_run_name",
    "new_run_dir",
    "policy_metadata",
]

EVAL_FILE = "eval.json"
POLICY_FILE = "policy.pt"
BEST_POLICY_FILE = "policy_best.pt"


def default_run_name(cfg: TrainConfig) -> str:
    """``<env>__<algo>__seed<seed>__<time>``."""
    return f"{cfg.env.id}__{cfg.algo.name}__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def new_run_dir(cfg: TrainConfig) -> str:
    """Create a fresh run directory for ``cfg`` (with its checkpoints folder); return its path.

    A named run (``run_name``) must not exist yet, or be empty; an unnamed one gets a
    ``-1``, ``-2``, ... suffix if its default name is taken.
    """
    base = os.path.join(cfg.log.dir, cfg.run_name or default_run_name(cfg))
    run_dir, suffix = base, 1
    while os.path.exists(run_dir) and os.listdir(run_dir):
        if cfg.run_name:
            raise ConfigError(
                f"run directory {run_dir} already exists; resume it with "
                f"'python train.py --resume {run_dir}' or choose another run_name"
            )
        run_dir, suffix = f"{base}-{suffix}", suffix + 1
    os.makedirs(os.path.join(run_dir, CHECKPOINT_DIR), exist_ok=True)
    return run_dir


def policy_metadata(cfg: TrainConfig, env_steps: int) -> dict:
    """What a run's policy files record of where they come from (the render command reads it)."""
    return {
        "env_id": cfg.env.id,
        "env_kwargs": dict(cfg.env.kwargs),
        "algo": cfg.algo.name,
        "seed": cfg.seed,
        "env_steps": env_steps,
    }
