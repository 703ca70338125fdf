"""Checkpoints: the learner's state and the trainer's, written atomically, checked on resume.

A checkpoint is the zip file ``torch.save`` writes, with the SHA-256 of that file in the zip's
comment (the end-of-directory record's free-text field, which torch and zip readers ignore), so
it stays a plain ``torch.load``-able file. Resuming verifies the checksum; a damaged latest
checkpoint is reported and the run resumes from the one before it.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import sys
from collections.abc import Callable

import torch
from omegaconf import OmegaConf

from algorithms.runs.config import TrainConfig
from algorithms.runs.files import atomic_path
from algorithms.runs.rundir import CHECKPOINT_DIR

CHECKPOINT_FORMAT = "marlgym-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_FILE = re.compile(r"update_\d+\.pt")


#: the zip comment that carries the checksum: this prefix, then 64 hex digits
CHECKSUM_PREFIX = b"marlgym-sha256:"
_COMMENT_LEN = len(CHECKSUM_PREFIX) + 64
_EOCD = b"PK\x05\x06"  # the zip end-of-central-directory record (22 bytes + comment)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from (corrupt, from another run, or another format)."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint whose bytes are damaged (checksum mismatch, truncated, unreadable)."""


def initial_trainer_state() -> dict:
    """What a checkpoint keeps besides the learner, at the start of a run."""
    return {
        "next_eval": 0,
        "last_eval_step": -1,
        "best_return": -math.inf,
        "best_step": -1,
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
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = with_checksum(buffer.getvalue())
    # written by Python, not torch's C++ writer, so a full disk says "No space left on device"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def with_checksum(data: bytes) -> bytes:
    """The zip ``data`` (no comment) with its SHA-256 as the zip comment."""
    if data[-22:-18] != _EOCD or data[-2:] != b"\x00\x00":
        raise ValueError("expected a zip file without a comment (what torch.save writes)")
    digest = hashlib.sha256(data).hexdigest().encode()
    return data[:-2] + _COMMENT_LEN.to_bytes(2, "little") + CHECKSUM_PREFIX + digest


def verify_checksum(data: bytes, path: str) -> bytes:
    """Check the checksum ``save_checkpoint`` stored; return the bytes torch wrote.

    A checkpoint from before checksums (a zip without a comment) passes unchecked.
    """
    if data[-22:-18] == _EOCD and data[-2:] == b"\x00\x00":
        return data  # written before checkpoints carried a checksum
    end = len(data) - _COMMENT_LEN
    comment, eocd = data[end:], end - 22
    if (
        eocd < 0
        or data[eocd : eocd + 4] != _EOCD
        or data[end - 2 : end] != _COMMENT_LEN.to_bytes(2, "little")
        or not comment.startswith(CHECKSUM_PREFIX)
    ):
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or unreadable (its checksum record is damaged or "
            "the file is truncated); refusing to resume from it"
        )
    original = data[: end - 2] + b"\x00\x00"
    if hashlib.sha256(original).hexdigest().encode() != comment[len(CHECKSUM_PREFIX) :]:
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt (its SHA-256 does not match the one saved with it: "
            "the file was damaged after it was written); refusing to resume from it"
        )
    return original


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
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({err}); refusing to resume from it"
        ) from None
    data = verify_checksum(data, path)
    try:
        # checkpoints pickle the env core: resume only runs you trust (your own)
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (whatever a damaged file raises, it is refused)
        raise CorruptCheckpointError(
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
    # a setting added to the learner after the checkpoint was written matches at its default,
    # which keeps the behaviour from before it existed
    defaults = _flatten({"algo": OmegaConf.to_container(OmegaConf.structured(type(cfg.algo)()))})
    added = {k for k in current if k not in saved and k in defaults and current[k] == defaults[k]}
    differ = sorted(
        k for k in (set(saved) | set(current)) - added if saved.get(k) != current.get(k)
    )
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


def restore_latest(
    learner, run_dir: str, cfg: TrainConfig, notify: Callable[[str], None]
) -> dict | None:
    """Restore the newest intact checkpoint of ``run_dir``; return its trainer state.

    A corrupt checkpoint is reported through ``notify`` and the one before it is tried; None
    when the run has no checkpoint at all (it died before its first). Raises CheckpointError
    when every checkpoint is corrupt, or one does not belong to this config.
    """
    files = checkpoint_files(run_dir)
    if not files:
        return None
    damaged: list[str] = []
    for path in reversed(files):
        try:
            trainer = restore(learner, path, cfg)
        except CorruptCheckpointError as err:
            damaged.append(str(err))
            continue
        for message in damaged:
            notify(f"{message}; resuming from the checkpoint before it, {path}")
        return trainer
    raise CorruptCheckpointError("; ".join(damaged))


def notify_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def resume_state(
    learner, resume: str, cfg: TrainConfig, notify: Callable[[str], None] = notify_stderr
) -> dict:
    """Restore ``resume`` (a checkpoint file, or a run directory's newest intact checkpoint)
    into ``learner``; return the trainer state to continue with.

    A run with no checkpoint (killed before its first) starts over: the state says to empty
    its logs (``log_offsets`` None) and its evaluation log.
    """
    if os.path.isfile(resume):
        return restore(learner, resume, cfg)
    trainer = restore_latest(learner, resume, cfg, notify)
    if trainer is None:
        notify(f"{resume} has no checkpoint yet: starting the run from the beginning")
        trainer = {"log_offsets": None, "eval_log": {}}
    return trainer


def kept(run_dir: str) -> str:
    """What a stopped run left to resume from, for its message."""
    if checkpoint_files(run_dir):
        return f"the last good checkpoint is kept in {run_dir}/checkpoints"
    return f"no checkpoint was written yet: start again with python train.py --resume {run_dir}"


def run_dir_of(checkpoint_path: str) -> str:
    """The run directory a checkpoint file belongs to (``<run_dir>/checkpoints/update_n.pt``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(checkpoint_path)))
