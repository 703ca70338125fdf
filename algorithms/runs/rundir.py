"""The run directory: its name, its files, its lock, and the metadata saved with its policies."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not protected from a second process
    fcntl = None

from algorithms.runs.config import CONFIG_FILE, ConfigError, TrainConfig  # noqa: F401  (re-exported)

METRICS_FILE = "metrics.jsonl"
METRICS_CSV_FILE = "metrics.csv"
EVAL_FILE = "eval.json"
POLICY_FILE = "policy.pt"
BEST_POLICY_FILE = "policy_best.pt"
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = "train.lock"


class RunLockedError(ConfigError):
    """Another process is training in the run directory."""


class RunLock:
    """An advisory lock on a run directory, held while a process trains in it.

    ``flock`` on ``train.lock``: the OS releases it when the holder exits, however it dies
    (a SIGKILLed run leaves no stale lock). The file holds the holder's pid, for the message
    a second process gets.
    """

    def __init__(self, run_dir: str):
        self.fd: int | None = None
        if fcntl is None:
            return
        path = os.path.join(run_dir, LOCK_FILE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"run directory {run_dir} is in use by another training process (pid {holder}); "
                "wait for it to end (or stop it), then resume"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.env.id}__{cfg.algo.name}__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def new_run_dir(cfg: TrainConfig) -> str:
    """Create the directory of a new run (``log.dir/run_name``, or a fresh default name)."""
    if os.path.exists(cfg.log.dir) and not os.path.isdir(cfg.log.dir):
        raise ConfigError(
            f"log.dir={cfg.log.dir} is a file, not a directory; give log.dir=<a directory> "
            "(it is created if missing)"
        )
    base = os.path.join(cfg.log.dir, cfg.run_name or default_run_name(cfg))
    run_dir, suffix = base, 1
    while os.path.exists(run_dir) and os.listdir(run_dir):
        if cfg.run_name:
            raise ConfigError(
                f"run directory {run_dir} already exists; resume it with "
                f"'python train.py --resume {run_dir}' or choose another run_name"
            )
        run_dir, suffix = f"{base}-{suffix}", suffix + 1
    try:
        os.makedirs(os.path.join(run_dir, CHECKPOINT_DIR), exist_ok=True)
    except OSError as err:  # a read-only or missing parent, a file on the path
        raise ConfigError(
            f"cannot create the run directory {run_dir} under log.dir={cfg.log.dir}: "
            f"{err.strerror or err}; give log.dir=<a directory you can write to>"
        ) from None
    return run_dir


def of(resume: str) -> str:
    """The run directory ``--resume`` names: a run directory, or a checkpoint file in one."""
    if os.path.isfile(resume):
        return os.path.dirname(os.path.dirname(os.path.abspath(resume)))
    return resume


def policy_metadata(cfg: TrainConfig, env_steps: int) -> dict:
    """What a saved policy records about the run that trained it."""
    return {
        "env_id": cfg.env.id,
        "env_kwargs": dict(cfg.env.kwargs),
        "algo": cfg.algo.name,
        "seed": cfg.seed,
        "env_steps": env_steps,
    }


def run_summary(
    protocol: dict,
    state: dict,
    env_steps: int,
    final_return: float | None,
    best_absolute: dict[str, list[float]] | None,
    final_absolute: dict[str, list[float]] | None,
) -> dict:
    """eval.json's ``summary`` of a run: the evaluation ``protocol``, the final policy's and the
    best policy's mean returns (on the periodic evaluation's episodes, and on the absolute
    metric's, held out under ``episodes_seed=fresh``), and where the best policy is.

    Args:
        protocol: :meth:`~algorithms.runs.evaluation.EvalProtocol.describe`'s record.
        state: the trainer's state (``best_return``, ``best_step``, ``best_policy``).
        env_steps: the run's env steps at the end.
        final_return: the last periodic evaluation's mean return.
        best_absolute: the absolute metric's results of the best policy (None: not evaluated).
        final_absolute: the same for the final policy.
    """

    def mean(results):
        return None if results is None else float(np.mean(results["return"]))

    summary = {
        "protocol": protocol,
        "final": {
            "step_count": int(env_steps),
            "return": final_return,
            "absolute_return": mean(final_absolute),
        },
        "best": None,
    }
    if best_absolute is not None:
        summary["protocol"] = {**protocol, "absolute_episodes": len(best_absolute["return"])}
    if state["best_policy"] is not None:
        summary["best"] = {
            "step_count": int(state["best_step"]),
            "return": float(state["best_return"]),
            "absolute_return": mean(best_absolute),
            "policy": BEST_POLICY_FILE,
        }
    return summary


@dataclass
class RunResult:
    """How a run ended: status is finished, solved, interrupted or failed."""

    run_dir: str
    status: str
    env_steps: int
    updates: int
    eval_return: float | None
    message: str = ""
    signal: int = 2  # what interrupted the run: SIGINT (Ctrl-C) or SIGTERM; exit code 128 + it
    best_return: float | None = None
    """The best periodic evaluation (its policy is ``policy_best.pt``), or None."""
    eval_summary: dict = field(default_factory=dict)
    """eval.json's summary (:func:`run_summary`); empty if the final evaluation did not run."""

    @property
    def exit_code(self) -> int:
        return {"finished": 0, "solved": 0, "interrupted": 128 + self.signal}.get(self.status, 1)

    def summary(self) -> str:
        """The run's closing lines: how it ended, the final and the best evaluation return (and
        on the absolute metric's episodes, when evaluated), where the best policy is."""
        line = f"{self.status}: {self.env_steps} env steps, {self.updates} updates"
        protocol = self.eval_summary.get("protocol", {})
        final, best = self.eval_summary.get("final") or {}, self.eval_summary.get("best") or {}
        kind = protocol.get("actions", "greedy")
        if self.eval_return is not None:
            line += f", final {kind} eval return {self.eval_return:.3f}"
        path = os.path.join(self.run_dir, BEST_POLICY_FILE)
        if self.best_return is not None and os.path.isfile(path):
            at = f" at {best['step_count']} steps" if best else ""
            line += f", best {self.best_return:.3f}{at} ({path})"
        if best.get("absolute_return") is not None:
            held = "held-out" if protocol.get("held_out") else "absolute"
            line += f"; on {protocol['absolute_episodes']} {held} episodes: best {best['absolute_return']:.3f}"
            if final.get("absolute_return") is not None:
                line += f", final {final['absolute_return']:.3f}"
        return f"{line}. {self.message}".rstrip(". ") + f"\nrun directory: {self.run_dir}"
