"""The run directory: its name, its files, and the metadata saved with its policies."""

from __future__ import annotations

import os
import time

from algorithms.runs.config import ConfigError, TrainConfig

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
POLICY_FILE = "policy.pt"
BEST_POLICY_FILE = "policy_best.pt"
CHECKPOINT_DIR = "checkpoints"


def default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.env.id}__{cfg.algo.name}__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def new_run_dir(cfg: TrainConfig) -> str:
    """Create the directory of a new run (``log.dir/run_name``, or a fresh default name)."""
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
    """What a saved policy records about the run that trained it."""
    return {
        "env_id": cfg.env.id,
        "env_kwargs": dict(cfg.env.kwargs),
        "algo": cfg.algo.name,
        "seed": cfg.seed,
        "env_steps": env_steps,
    }
