"""A run's logs: TensorBoard scalars, ``metrics.jsonl`` (one line per update) and the progress bar."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from algorithms.runs.config import TrainConfig
from algorithms.runs.files import atomic_path
from algorithms.runs.rundir import METRICS_FILE


def episode_scalars(episodes: dict[str, list[float]]) -> dict[str, float]:
    """The charts/ and env/ scalars of the episodes that ended during an update."""
    if not episodes.get("return"):
        return {}
    scalars = {
        "charts/episodic_return": float(np.mean(episodes["return"])),
        "charts/episode_length": float(np.mean(episodes["length"])),
    }
    for key, values in episodes.items():
        if key not in ("return", "length"):
            scalars[f"env/{key}"] = float(np.nanmean(values))
    return scalars


def truncate_metrics(run_dir: str, max_update: int) -> None:
    """Drop metrics.jsonl lines of updates after ``max_update`` (they are redone on resume)."""
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [line for line in f if line.strip() and json.loads(line)["update"] <= max_update]
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.writelines(lines)


class RunLogger:
    """TensorBoard scalars, metrics.jsonl and the progress bar of one run."""

    def __init__(self, run_dir: str, cfg: TrainConfig, start_steps: int):
        self.jsonl = open(os.path.join(run_dir, METRICS_FILE), "a")  # noqa: SIM115  (closed by close())
        self.writer = None
        if cfg.log.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(run_dir)
        self.bar = None
        if cfg.log.progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=cfg.total_env_steps,
                initial=start_steps,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                desc=f"{cfg.algo.name} {cfg.env.id}",
            )

    def scalars(self, values: dict[str, float], step: int, update: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if value is not None and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)
        clean = {k: (v if v is not None and math.isfinite(v) else None) for k, v in values.items()}
        self.jsonl.write(json.dumps({"update": update, "env_steps": step, **clean}) + "\n")

    def progress(
        self, steps: int, sps: float, recent: float | None, last_eval: float | None
    ) -> None:
        if self.bar is None:
            return
        postfix = {"SPS": f"{sps:.0f}"}
        if recent is not None:
            postfix["return"] = f"{recent:.3f}"
        if last_eval is not None:
            postfix["eval"] = f"{last_eval:.3f}"
        self.bar.update(min(steps, self.bar.total) - self.bar.n)  # the last update may overshoot
        self.bar.set_postfix(postfix, refresh=False)

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
        self.jsonl.close()
