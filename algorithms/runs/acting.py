"""The policy a run keeps, writes and plays back, for every learner: a Policy, or an acting snapshot.

Most learners act through a standalone :class:`agents.policy.Policy`; the trainer keeps its
state_dict as the best policy seen and writes ``policy.pt`` / ``policy_best.pt`` with
:meth:`Policy.save`. A learner whose policy is not a Policy network (PMA's table, MANSA's
switcher on the global state) keeps :meth:`~algorithms.base.Learner.acting_state` instead, plays
it by loading it into the learner for the evaluation and back again afterwards (:func:`playing`),
and writes it as an *acting file*: the snapshot, the run's config (to rebuild the learner) and the
same metadata as a policy file, loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from agents.policy import Policy, read_saved
from algorithms.runs.checkpoint import latest_checkpoint
from algorithms.runs.config import CONFIG_FILE, ConfigError, build, load_config
from algorithms.runs.files import atomic_path
from algorithms.runs.rundir import BEST_POLICY_FILE, POLICY_FILE

ACTING_FORMAT = "marlgym-acting-state"
ACTING_VERSION = 1


def has_policy(learner: Any) -> bool:
    """Whether ``learner`` acts through a standalone :class:`agents.policy.Policy`."""
    return learner.policy() is not None


def snapshot(learner: Any) -> dict[str, torch.Tensor] | None:
    """What the trainer keeps as the best policy: the Policy's state_dict, or the acting state
    (None: neither; a learner registered from outside may have neither, and its runs are then
    scored on the final policy)."""
    if has_policy(learner):
        return {k: v.detach().cpu().clone() for k, v in learner.policy().state_dict().items()}
    try:
        return learner.acting_state()
    except NotImplementedError:
        return None


def exportable(learner: Any) -> bool:
    """Whether ``learner`` has a policy to keep and write (see :func:`snapshot`)."""
    return has_policy(learner) or snapshot(learner) is not None


@contextmanager
def playing(learner: Any, kept: dict | None) -> Iterator[dict | None]:
    """Evaluate ``kept`` (a :func:`snapshot`, None: the learner as it is). Yields what to pass as
    ``policy_state`` to :meth:`~algorithms.runs.evaluation.EvalProtocol.act`: ``kept`` for a
    Policy (played from a copy), None for an acting state, which is loaded into the learner
    here and replaced by the learner's own when the block ends."""
    if kept is None or has_policy(learner):
        yield kept
        return
    own = learner.acting_state()
    learner.load_acting_state(kept)
    try:
        yield None
    finally:
        learner.load_acting_state(own)


def save(learner: Any, path: str, metadata: dict[str, Any], config_yaml: str) -> None:
    """Write the learner's current policy to ``path``: a policy file, or an acting file."""
    if has_policy(learner):
        learner.policy().save(path, metadata)
        return
    payload = {
        "format": ACTING_FORMAT,
        "version": ACTING_VERSION,
        "state": learner.acting_state(),
        "config": config_yaml,
        "metadata": json.loads(json.dumps(metadata, default=str)),  # plain values only
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def start_from(learner: Any, path: str) -> None:
    """Load the policy saved at ``path`` (a policy or acting file, or a run directory: its
    policy.pt) into a new run's learner (``init_policy``); ConfigError says what does not fit."""
    file = os.path.join(path, POLICY_FILE) if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise ConfigError(
            f"init_policy: no policy file at {file!r}; give a policy.pt, policy_best.pt or a "
            "run directory holding a policy.pt"
        )
    try:
        state = load(file)["state"] if is_acting_file(file) else Policy.load(file).state_dict()
        learner.load_acting_state(state)
    except (ValueError, RuntimeError, KeyError, NotImplementedError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(
            f"init_policy: the policy in {file!r} does not fit this run's "
            f"{type(learner).__name__} (a different env, network or algorithm?): {first}"
        ) from None


def is_acting_file(path: str) -> bool:
    """Whether ``path`` holds an acting file (else it should be a policy file)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file at all: the policy loader says what is wrong
        return False
    return isinstance(payload, dict) and payload.get("format") == ACTING_FORMAT


def load(path: str) -> dict[str, Any]:
    """An acting file's ``state``, ``config`` (YAML text) and ``metadata``."""
    return read_saved(path, ACTING_FORMAT, ACTING_VERSION, "acting")


def learner_from_file(path: str, overrides: Sequence[str] = ()) -> Any:
    """A learner rebuilt from an acting file's config, playing its policy (:meth:`act`)."""
    saved = load(path)
    with tempfile.TemporaryDirectory() as folder:
        config = os.path.join(folder, CONFIG_FILE)
        with open(config, "w") as f:
            f.write(saved["config"])
        cfg = load_config(config, overrides)
    _, learner = build(cfg)
    learner.load_acting_state(saved["state"])
    return learner


# ---------------------------------------------------------------------- playing back
@dataclass
class CheckpointSource:
    """What a render ``--checkpoint`` path holds: a policy file, an acting file, or a training
    checkpoint (``kind``), and the env it was trained on."""

    path: str
    kind: str  # "policy", "acting" or "training"
    env_id: str | None
    env_kwargs: dict[str, Any]
    run_dir: str | None


def resolve_checkpoint(path: str, best: bool = False) -> CheckpointSource:
    """Find the policy to play in ``path`` (a run directory, a policy file or a checkpoint file)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--checkpoint {path} does not exist")
    if os.path.isdir(path):
        run_dir = path
        names = (BEST_POLICY_FILE, POLICY_FILE) if best else (POLICY_FILE, BEST_POLICY_FILE)
        for name in names:
            if os.path.isfile(os.path.join(path, name)):
                return _policy_source(os.path.join(path, name), run_dir)
        return _training_source(latest_checkpoint(path), run_dir)
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.basename(parent) == "checkpoints":
        return _training_source(path, os.path.dirname(parent))
    return _policy_source(
        path, parent if os.path.isfile(os.path.join(parent, CONFIG_FILE)) else None
    )


def _policy_source(path: str, run_dir: str | None) -> CheckpointSource:
    kind = "acting" if is_acting_file(path) else "policy"
    metadata = load(path)["metadata"] if kind == "acting" else Policy.load(path).metadata
    return CheckpointSource(
        path, kind, metadata.get("env_id"), dict(metadata.get("env_kwargs") or {}), run_dir
    )


def _training_source(path: str, run_dir: str) -> CheckpointSource:
    cfg = load_config(os.path.join(run_dir, CONFIG_FILE))
    return CheckpointSource(path, "training", cfg.env.id, dict(cfg.env.kwargs), run_dir)
