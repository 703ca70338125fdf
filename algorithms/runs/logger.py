"""A run's logs: TensorBoard scalars, ``metrics.jsonl`` (one line per update), optionally
``metrics.csv`` (``log.csv``) and Weights & Biases (``log.wandb``), and the progress bar.

Logs stay consistent with the checkpoints: before a checkpoint is written the logs are flushed
and their sizes go into it (:meth:`RunLogger.offsets`); a resumed run cuts the logs back to
those sizes (:func:`rewind_logs`) and redoes what came after, so a killed and resumed run
logs exactly what an uninterrupted one does (each TensorBoard (tag, step) pair once). wandb
keeps its own history: a resumed run continues the same wandb run (its id is the run
directory's), and the steps redone after a kill are logged to it a second time.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable

import numpy as np
from omegaconf import OmegaConf

from algorithms.runs.config import ConfigError, TrainConfig
from algorithms.runs.files import atomic_path
from algorithms.runs.rundir import METRICS_CSV_FILE, METRICS_FILE

CSV_HEADER = ("update", "env_steps", "key", "value")


def import_wandb():
    """The ``wandb`` module (an optional extra), or a ConfigError saying how to install it."""
    try:
        import wandb
    except ImportError:
        raise ConfigError(
            "log.wandb=true needs the wandb package, an optional extra: "
            "pip install 'marlgym[wandb]' (or pip install wandb), or set log.wandb=false"
        ) from None
    return wandb


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


EVENTS_GLOB = "events.out.tfevents.*"


def truncate_metrics(run_dir: str, max_update: int) -> None:
    """Drop metrics.jsonl lines of updates after ``max_update`` (they are redone on resume).

    For checkpoints that predate :meth:`RunLogger.offsets`. A line that is not JSON (the
    partial last line of a killed run) is dropped when it is the last; elsewhere it is an error.
    """
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            update = json.loads(line)["update"]
        except (json.JSONDecodeError, KeyError, TypeError):
            if number == len(lines):
                break  # cut short by a kill: what it held is redone
            raise ValueError(f"{path} line {number} is damaged: {line[:80]!r}") from None
        if update <= max_update:
            kept.append(line)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.writelines(kept)


def rewind_logs(
    run_dir: str, trainer_state: dict, updates: int, notify: Callable[[str], None] = print
) -> None:
    """Cut metrics.jsonl and the TensorBoard event files back to a checkpoint's ``log_offsets``.

    ``log_offsets`` None (no checkpoint: the run starts over) empties the logs. Event files
    written after the checkpoint (by a later, killed resume) are removed. A checkpoint from
    before log offsets cuts metrics.jsonl after ``updates`` and leaves the events alone.
    """
    if "log_offsets" not in trainer_state:
        truncate_metrics(run_dir, updates)
        return
    offsets = trainer_state["log_offsets"]
    offsets = offsets or {"metrics": 0, "events": {}}
    # metrics.csv: a checkpoint from before it had none (cut to 0: it is rewritten from there)
    for name, key in ((METRICS_FILE, "metrics"), (METRICS_CSV_FILE, "csv")):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            size, kept = os.path.getsize(path), offsets.get(key, 0)
            if size < kept:
                notify(f"{path} is shorter than when the checkpoint was written: lines are missing")
            else:
                os.truncate(path, kept)
    for events in glob.glob(os.path.join(run_dir, EVENTS_GLOB)):
        size = offsets["events"].get(os.path.basename(events))
        if size is None:
            os.remove(events)
        elif os.path.getsize(events) > size:
            os.truncate(events, size)


def _wait_to_sort_after_existing_events(run_dir: str, limit: float = 2.0) -> None:
    """Wait (at most ``limit`` s) until a new event file's name sorts after the existing ones.

    TensorBoard reads a directory's event files in name order, and the name starts with the
    creation time in whole seconds; a run resumed within the second its last file was created
    would otherwise have its new events read first (and TensorBoard purges those as orphans).
    """
    stamps = []
    for path in glob.glob(os.path.join(run_dir, EVENTS_GLOB)):
        try:
            stamps.append(int(os.path.basename(path).split(".")[3]))
        except (IndexError, ValueError):
            continue
    end = time.monotonic() + limit
    while stamps and int(time.time()) <= max(stamps) and time.monotonic() < end:
        time.sleep(0.02)


def start_wandb(run_dir: str, cfg: TrainConfig):
    """A wandb run for ``run_dir`` (its files under it); resuming the run directory resumes it.

    Its id is a hash of the run directory's path, so the same directory always maps to one
    wandb run; charts use ``env_steps`` as their x axis.
    """
    wandb = import_wandb()
    run_dir = os.path.abspath(run_dir)
    run = wandb.init(
        project=cfg.log.wandb_project,
        name=os.path.basename(run_dir),
        id=hashlib.sha1(run_dir.encode()).hexdigest()[:16],
        resume="allow",
        dir=run_dir,
        mode=cfg.log.wandb_mode,
        config=OmegaConf.to_container(OmegaConf.structured(cfg)),
    )
    run.define_metric("env_steps")
    run.define_metric("*", step_metric="env_steps")
    return run


class RunLogger:
    """TensorBoard scalars, metrics.jsonl and the progress bar of one run."""

    def __init__(self, run_dir: str, cfg: TrainConfig, start_steps: int):
        self.run_dir = run_dir
        self.jsonl = open(os.path.join(run_dir, METRICS_FILE), "a")  # noqa: SIM115  (closed by close())
        self.writer = None
        if cfg.log.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            _wait_to_sort_after_existing_events(run_dir)
            self.writer = SummaryWriter(run_dir)
        self.csv = None
        if cfg.log.csv:
            self.csv = open(os.path.join(run_dir, METRICS_CSV_FILE), "a", newline="")  # noqa: SIM115
            self.csv_rows = csv.writer(self.csv)
            if self.csv.tell() == 0:
                self.csv_rows.writerow(CSV_HEADER)
        self.wandb = None
        if cfg.log.wandb:
            self.wandb = start_wandb(run_dir, cfg)
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
        if self.csv is not None:  # a non-finite value is an empty cell, as in metrics.jsonl
            self.csv_rows.writerows(
                (update, step, k, "" if v is None else repr(float(v))) for k, v in clean.items()
            )
        if self.wandb is not None:
            finite = {k: v for k, v in clean.items() if v is not None}
            self.wandb.log({**finite, "env_steps": step, "update": update})

    def flush(self) -> None:
        """Push everything logged so far to the files (done before each checkpoint)."""
        self.jsonl.flush()
        if self.csv is not None:
            self.csv.flush()
        if self.writer is not None:
            self.writer.flush()

    def offsets(self) -> dict:
        """The logs' sizes now (after :meth:`flush`): what a resume from here keeps."""
        events = glob.glob(os.path.join(self.run_dir, EVENTS_GLOB))
        csv_path = os.path.join(self.run_dir, METRICS_CSV_FILE)
        return {
            "metrics": self.jsonl.tell(),
            "csv": os.path.getsize(csv_path) if os.path.exists(csv_path) else 0,
            "events": {os.path.basename(p): os.path.getsize(p) for p in events},
        }

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
        """Close the logs; a write error (a full disk) is reported, not raised."""
        if self.bar is not None:
            self.bar.close()
        closers = [self.jsonl.close]
        closers += [self.writer.close] if self.writer is not None else []
        closers += [self.csv.close] if self.csv is not None else []
        if self.wandb is not None:  # finish, then wait for wandb's writer process to flush
            closers += [self.wandb.finish, import_wandb().teardown]
        for close in closers:
            try:
                close()
            except OSError as err:
                self.message(f"could not finish writing the logs in {self.run_dir}: {err}")
