"""Train a learner on a marlgym env (DESIGN 4).

    python train.py                                          # the default job: IPPO on Foraging-8x8-2p-2f-coop-v3
    python train.py --config configs/mappo_foraging_8x8.yaml algo.lr=3e-4 seed=1
    python train.py algo=mfac env.id=Foraging-10x10-3p-3f-v3 env.num_envs=128
    python train.py --resume runs/<name>                     # continue a run where it stopped
    python train.py env.id=lamps-v0 --import my_envs          # a user's env, registered by my_envs.py

Configuration: typed dataclasses below (and each learner's own in ``algorithms/``) hold
every default; a YAML file holds overrides only; ``key=value`` arguments override both.
An unknown or mistyped key, a value of the wrong type or out of range, an unknown env id or
env keyword all fail before training starts, naming the key and the closest valid one.

A run writes ``runs/<name>/``: ``config.yaml`` (resolved), TensorBoard scalars
(``charts/episodic_return``, ``charts/SPS``, ``losses/*``, ``env/*``), ``metrics.jsonl`` (one
line per update), ``checkpoints/`` (atomic, every ``checkpoint.every_updates`` updates and at
the end), ``policy.pt`` (the standalone policy, see agents/policy.py), ``eval.json`` (greedy
evaluations in the marl-eval layout). Ctrl-C finishes the current update, saves a checkpoint
and exits (a second Ctrl-C stops at once); a NaN or inf loss stops the run naming the loss
and the update, leaving the last good checkpoint in place.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import math
import os
import re
import signal
import sys
import threading
import time
import typing
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

import envs
from algorithms import NonFiniteLossError, get_algorithm
from algorithms.base import AlgoConfig
from algorithms.ippo import IPPOConfig
from algorithms.runs.evaluation import MarlEvalLog, evaluate
from algorithms.runs.files import atomic_path
from envs.hints import closest_hint

CHECKPOINT_FORMAT = "marlgym-checkpoint"
CHECKPOINT_VERSION = 1
#: config keys that may change when a run is resumed (they do not change what is learned)
RESUMABLE_OVERRIDES = ("total_env_steps", "device", "torch_threads", "log.", "checkpoint.", "eval.")


# ---------------------------------------------------------------------- configuration
@dataclass
class EnvConfig:
    """Which env to train on."""

    id: str = "Foraging-8x8-2p-2f-coop-v3"
    """A registered env id or alias (``envs.list_envs(aliases=True)`` lists them)."""
    num_envs: int = 128
    """Env copies stepped together (B)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the env; they override those the id implies."""


@dataclass
class LogConfig:
    """Where and how progress is reported."""

    dir: str = "runs"
    """Parent directory of run directories."""
    tensorboard: bool = True
    """Write TensorBoard event files."""
    progress: bool = True
    """Show a progress bar (steps/s and recent return)."""
    return_window: int = 100
    """Episodes averaged for the progress bar's recent return."""


@dataclass
class CheckpointConfig:
    """How often training state is saved."""

    every_updates: int = 50
    """Save a checkpoint every this many updates (and always at the end)."""
    keep: int = 2
    """Checkpoint files kept (the newest)."""


@dataclass
class EvalConfig:
    """Periodic greedy evaluation, written to eval.json (marl-eval layout)."""

    every_env_steps: int = 100_000
    """Evaluate every this many env steps (0: only at the end)."""
    episodes: int = 32
    """Episodes per evaluation (E)."""
    absolute_episodes: int = 320
    """Episodes for the final evaluation of the best policy (marl-eval's absolute metric; 0: skip)."""
    stop_return: float | None = None
    """Stop training once the mean greedy evaluation return reaches this (None: never)."""


@dataclass
class TrainConfig:
    """A training run."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The env."""
    algo: AlgoConfig = field(default_factory=IPPOConfig)
    """The learner and its hyperparameters (``algo=<name>`` selects it: ippo, mappo, mfac, ...)."""
    seed: int = 0
    """Seeds the networks, the learner's sampling and env copy b (with seed + b)."""
    total_env_steps: int = 2_000_000
    """Train until this many env steps (one step of one env copy) have been collected."""
    run_name: str | None = None
    """Run directory name under log.dir (default: <env>__<algo>__seed<seed>__<time>)."""
    device: str = "cpu"
    """Torch device: cpu, or cuda / cuda:N where available."""
    torch_threads: int = 1
    """Torch CPU threads (small networks: 1 is fastest on a 2-core machine; 0 leaves torch's default)."""
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        checks = {
            "total_env_steps": self.total_env_steps > 0,
            "env.num_envs": self.env.num_envs >= 1,
            "torch_threads": self.torch_threads >= 0,
            "log.return_window": self.log.return_window >= 1,
            "checkpoint.every_updates": self.checkpoint.every_updates >= 1,
            "checkpoint.keep": self.checkpoint.keep >= 1,
            "eval.every_env_steps": self.eval.every_env_steps >= 0,
            "eval.episodes": self.eval.episodes >= 1,
            "eval.absolute_episodes": self.eval.absolute_episodes >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"{key} is out of range: got {_get(self, key)}")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.run_name is not None and (
            not self.run_name or "/" in self.run_name or self.run_name.startswith(".")
        ):
            raise ValueError(f"run_name must be a plain directory name, got {self.run_name!r}")


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


class ConfigError(ValueError):
    """A configuration problem found before training starts."""


def _schema_keys(schema: DictConfig, parent: str) -> list[str]:
    node = OmegaConf.select(schema, parent) if parent else schema
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def _expected_type(schema: DictConfig, dotted: str) -> str:
    """The declared type of a config key, for error messages (e.g. ``float | None``)."""
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(schema, parent) if parent else schema
    owner = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    try:
        hint = typing.get_type_hints(owner)[leaf]
    except (TypeError, KeyError, NameError):
        return "another type"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _take_algo_name(source: DictConfig) -> str | None:
    """Remove the algorithm name from a config source (``algo: mappo`` or ``algo.name``); return it."""
    algo = source.get("algo") if isinstance(source, DictConfig) else None
    if isinstance(algo, str):
        del source["algo"]
        return algo
    if isinstance(algo, DictConfig) and "name" in algo:
        name = algo.pop("name")
        return str(name)
    return None


def load_config(config_file: str | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults <- YAML file <- ``key=value`` overrides, checked; raises :class:`ConfigError`."""
    try:
        file_cfg = OmegaConf.load(config_file) if config_file else OmegaConf.create({})
    except FileNotFoundError:
        raise ConfigError(f"config file {config_file} does not exist") from None
    except (OSError, ValueError, OmegaConfBaseException, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config file {config_file}: {err}") from None
    if not isinstance(file_cfg, DictConfig):
        raise ConfigError(f"config file {config_file} must hold a mapping of keys to values")
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override {item!r} must have the form key=value (e.g. algo.lr=3e-4)")
    # ``algo=<name>`` picks the learner; it is taken out first so ``algo.<key>=...`` can follow it
    picked = [item.split("=", 1)[1] for item in overrides if item.split("=", 1)[0] == "algo"]
    rest = [item for item in overrides if item.split("=", 1)[0] != "algo"]
    try:
        cli_cfg = OmegaConf.from_dotlist(rest)
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot parse overrides {rest}: {err}") from None

    file_name, cli_name = _take_algo_name(file_cfg), _take_algo_name(cli_cfg)
    cli_name = picked[-1] if picked else cli_name
    name = cli_name or file_name or TrainConfig().algo.name
    try:
        config_cls, _ = get_algorithm(name)
    except KeyError as err:
        raise ConfigError(f"algo: {err.args[0]}") from None
    schema = OmegaConf.structured(TrainConfig(algo=config_cls()))
    merged = schema
    for source, origin in ((file_cfg, config_file), (cli_cfg, "the command line")):
        try:
            merged = OmegaConf.merge(merged, source)
        except ConfigKeyError as err:
            full = str(err.full_key or err.key)
            parent = full.rpartition(".")[0]
            prefix = f"{parent}." if parent else ""
            choices = [prefix + k for k in _schema_keys(schema, parent)]
            raise ConfigError(
                f"unknown config key '{full}' (from {origin}){closest_hint(full, choices)}"
            ) from None
        except OmegaConfBaseException as err:
            full = str(getattr(err, "full_key", "") or "")
            message = str(err).splitlines()[0]
            raise ConfigError(
                f"config key '{full}' (from {origin}) expects {_expected_type(schema, full)}: "
                f"{message}"
            ) from None
    try:
        return OmegaConf.to_object(merged)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _override_keys(overrides: Sequence[str]) -> list[str]:
    return [item.split("=", 1)[0] for item in overrides]


# ---------------------------------------------------------------------- env and learner
def make_env(cfg: TrainConfig, num_envs: int | None = None):
    """The batched core the config names; bad ids and keyword arguments become ConfigErrors."""
    try:
        entry, _ = envs.spec(cfg.env.id)
    except KeyError as err:
        raise ConfigError(f"env.id: {err.args[0]}") from None
    try:
        return envs.make_vec(cfg.env.id, num_envs or cfg.env.num_envs, **cfg.env.kwargs)
    except TypeError as err:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if not match:
            raise
        factory = entry.core or entry.parallel
        target = factory.__init__ if inspect.isclass(factory) else factory
        params = [p for p in inspect.signature(target).parameters if p not in ("self", "num_envs")]
        raise ConfigError(
            f"unknown env keyword 'env.kwargs.{match[1]}' for {cfg.env.id}"
            f"{closest_hint(match[1], params)}"
        ) from None
    except ValueError as err:
        raise ConfigError(f"env.kwargs: {err}") from None


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name!r} was asked for, but CUDA is not available here; use device=cpu"
        )
    return torch.device(name)


def build(cfg: TrainConfig):
    """The env and learner for a config (everything that can fail before training)."""
    device = resolve_device(cfg.device)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    _, learner_cls = get_algorithm(cfg.algo.name)
    env = make_env(cfg)
    try:
        learner = learner_cls(cfg.algo, env, device, cfg.seed)
    except ValueError as err:
        raise ConfigError(f"{cfg.algo.name} on {cfg.env.id}: {err}") from None
    return env, learner


# ---------------------------------------------------------------------- checkpoints
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


def latest_checkpoint(run_dir: str) -> str:
    folder = os.path.join(run_dir, "checkpoints")
    files = (
        sorted(f for f in os.listdir(folder) if re.fullmatch(r"update_\d+\.pt", f))
        if os.path.isdir(folder)
        else []
    )
    if not files:
        raise CheckpointError(f"{run_dir} has no checkpoints to resume from (looked in {folder})")
    return os.path.join(folder, files[-1])


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


# ---------------------------------------------------------------------- logging
class RunLogger:
    """TensorBoard scalars, metrics.jsonl and the progress bar of one run."""

    def __init__(self, run_dir: str, cfg: TrainConfig, start_steps: int):
        self.jsonl = open(os.path.join(run_dir, "metrics.jsonl"), "a")  # noqa: SIM115  (closed by close())
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

    def progress(self, steps: int, postfix: dict[str, str]) -> None:
        if self.bar is not None:
            self.bar.update(
                min(steps, self.bar.total) - self.bar.n
            )  # the last update may overshoot
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


class DeferredInterrupt:
    """Turns the first Ctrl-C into a flag checked between updates; a second one stops at once."""

    def __init__(self, notify: Callable[[str], None]):
        self.requested = False
        self.notify = notify
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.notify(
            "interrupt: finishing this update, then saving a checkpoint (Ctrl-C again to stop now)"
        )

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# ---------------------------------------------------------------------- the run
@dataclass
class RunResult:
    """How a run ended: status is finished, solved, interrupted or failed."""

    run_dir: str
    status: str
    env_steps: int
    updates: int
    eval_return: float | None
    message: str = ""

    @property
    def exit_code(self) -> int:
        return {"finished": 0, "solved": 0, "interrupted": 130}.get(self.status, 1)


def _truncate_jsonl(path: str, max_update: int) -> None:
    """Drop metrics.jsonl lines of updates after ``max_update`` (they are redone on resume)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [line for line in f if line.strip() and json.loads(line)["update"] <= max_update]
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.writelines(lines)


def _default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.env.id}__{cfg.algo.name}__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def _new_run_dir(cfg: TrainConfig) -> str:
    base = os.path.join(cfg.log.dir, cfg.run_name or _default_run_name(cfg))
    run_dir, suffix = base, 1
    while os.path.exists(run_dir) and os.listdir(run_dir):
        if cfg.run_name:
            raise ConfigError(
                f"run directory {run_dir} already exists; resume it with "
                f"'python train.py --resume {run_dir}' or choose another run_name"
            )
        run_dir, suffix = f"{base}-{suffix}", suffix + 1
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    return run_dir


def train(
    cfg: TrainConfig,
    resume: str | None = None,
    on_update: Callable[[Any, dict[str, float]], None] | None = None,
) -> RunResult:
    """Run (or resume) training; see the module docstring for what is written.

    Args:
        cfg: the configuration (a resumed run's saved config, possibly with overrides).
        resume: a run directory, or a checkpoint file, to continue from.
        on_update: called after every update with ``(learner, metrics)`` (e.g. by tests).
    """
    _, learner = build(cfg)
    trainer = {
        "next_eval": 0,
        "last_eval_step": -1,
        "best_return": -math.inf,
        "best_policy": None,
        "train_time": 0.0,
        "recent": [],
    }
    if resume is not None:
        path = resume if os.path.isfile(resume) else latest_checkpoint(resume)
        run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        payload = load_checkpoint(path, cfg)
        try:
            learner.load_state_dict(payload["learner"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(
                f"checkpoint {path} does not fit this learner and env ({err}); refusing to resume"
            ) from None
        trainer.update(payload["trainer"])
    else:
        run_dir = _new_run_dir(cfg)
    OmegaConf.save(OmegaConf.structured(cfg), os.path.join(run_dir, "config.yaml"))

    if resume is not None:
        _truncate_jsonl(os.path.join(run_dir, "metrics.jsonl"), learner.updates)
    logger = RunLogger(run_dir, cfg, learner.env_steps)
    eval_log = MarlEvalLog(
        os.path.join(run_dir, "eval.json"), cfg.env.id, cfg.env.kwargs, cfg.algo.name, cfg.seed
    )
    if resume is not None:  # forget what was logged after the checkpoint: it is redone
        eval_log.truncate(learner.env_steps)
    recent = deque(trainer["recent"], maxlen=cfg.log.return_window)
    eval_seed = 1_000_003 * (cfg.seed + 1)
    policy_meta = {
        "env_id": cfg.env.id,
        "env_kwargs": dict(cfg.env.kwargs),
        "algo": cfg.algo.name,
        "seed": cfg.seed,
    }
    last_eval: float | None = None
    status, message = "finished", ""

    def run_eval(episodes: int, policy_state=None) -> dict[str, list[float]]:
        act = learner.act
        if policy_state is not None:  # the best policy seen, not the current one
            policy = copy.deepcopy(learner.policy())
            policy.load_state_dict(policy_state)

            def act(obs, mask, state, hidden):
                return policy.act(obs, mask, hidden)

        return evaluate(
            act,
            lambda b: make_env(cfg, b),
            episodes,
            eval_seed,
            needs_state=learner.act_needs_state,
        )

    def periodic_eval() -> float:
        results = run_eval(cfg.eval.episodes)
        eval_log.add_step(learner.env_steps, results)
        mean = float(np.mean(results["return"]))
        logger.scalars(
            {
                "eval/return": mean,
                **{f"eval/{k}": float(np.mean(v)) for k, v in results.items() if k != "return"},
            },
            learner.env_steps,
            learner.updates,
        )
        if mean > trainer["best_return"] and learner.policy() is not None:
            trainer["best_return"] = mean
            trainer["best_policy"] = {
                k: v.detach().cpu().clone() for k, v in learner.policy().state_dict().items()
            }
            learner.policy().save(
                os.path.join(run_dir, "policy_best.pt"),
                {**policy_meta, "env_steps": learner.env_steps},
            )
        trainer["last_eval_step"] = learner.env_steps
        trainer["next_eval"] = learner.env_steps + cfg.eval.every_env_steps
        return mean

    def checkpoint() -> None:
        trainer["recent"] = list(recent)
        folder = os.path.join(run_dir, "checkpoints")
        save_checkpoint(
            os.path.join(folder, f"update_{learner.updates:07d}.pt"), cfg, learner, trainer
        )
        files = sorted(f for f in os.listdir(folder) if re.fullmatch(r"update_\d+\.pt", f))
        for old in files[: -cfg.checkpoint.keep]:
            os.remove(os.path.join(folder, old))
        if learner.policy() is not None:
            learner.policy().save(
                os.path.join(run_dir, "policy.pt"), {**policy_meta, "env_steps": learner.env_steps}
            )

    start_steps, start_time = learner.env_steps, trainer["train_time"]
    with DeferredInterrupt(logger.message) as interrupt:
        try:
            if cfg.eval.every_env_steps and learner.env_steps >= trainer["next_eval"]:
                last_eval = periodic_eval()
            while learner.env_steps < cfg.total_env_steps:
                tick = time.perf_counter()
                metrics = learner.train_iteration()
                trainer["train_time"] += time.perf_counter() - tick
                episodes = learner.episodes.drain()
                recent.extend(episodes.get("return", []))
                metrics["charts/SPS"] = (learner.env_steps - start_steps) / max(
                    trainer["train_time"] - start_time, 1e-9
                )
                if episodes.get("return"):
                    metrics["charts/episodic_return"] = float(np.mean(episodes["return"]))
                    metrics["charts/episode_length"] = float(np.mean(episodes["length"]))
                    for key, values in episodes.items():
                        if key not in ("return", "length"):
                            metrics[f"env/{key}"] = float(np.nanmean(values))
                logger.scalars(metrics, learner.env_steps, learner.updates)
                if on_update is not None:
                    on_update(learner, metrics)
                if cfg.eval.every_env_steps and learner.env_steps >= trainer["next_eval"]:
                    last_eval = periodic_eval()
                    if cfg.eval.stop_return is not None and last_eval >= cfg.eval.stop_return:
                        status = "solved"
                        message = f"greedy evaluation return {last_eval:.3f} >= eval.stop_return"
                        break
                postfix = {"SPS": f"{metrics['charts/SPS']:.0f}"}
                if recent:
                    postfix["return"] = f"{np.mean(recent):.3f}"
                if last_eval is not None:
                    postfix["eval"] = f"{last_eval:.3f}"
                logger.progress(learner.env_steps, postfix)
                if interrupt.requested:
                    status, message = "interrupted", "interrupted by Ctrl-C"
                    break
                if learner.updates % cfg.checkpoint.every_updates == 0:
                    checkpoint()
            checkpoint()
            if status != "interrupted":
                if trainer["last_eval_step"] != learner.env_steps:
                    last_eval = periodic_eval()
                if cfg.eval.absolute_episodes:
                    results = run_eval(cfg.eval.absolute_episodes, trainer["best_policy"])
                    eval_log.set_absolute(results)
        except NonFiniteLossError as err:
            status, message = (
                "failed",
                f"{err}; the last good checkpoint is kept in {run_dir}/checkpoints",
            )
        except KeyboardInterrupt:
            status = "interrupted"
            message = f"stopped by a second Ctrl-C without saving; the last checkpoint in {run_dir}/checkpoints is kept"
        finally:
            logger.close()
    if status == "interrupted" and "without saving" not in message:
        message += f"; checkpoint saved, continue with: python train.py --resume {run_dir}"
    result = RunResult(run_dir, status, learner.env_steps, learner.updates, last_eval, message)
    return result


# ---------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train a marlgym learner.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file of overrides (configs/*.yaml)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue runs/<name> (or a checkpoint file)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it registers your env, see the README); repeatable",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. algo=mappo algo.lr=3e-4",
    )
    args = parser.parse_args(argv)
    try:
        envs.import_env_modules(args.imports)
        if args.resume:
            if args.config:
                raise ConfigError("--resume uses the run's saved config.yaml; do not pass --config")
            fixed = [
                k for k in _override_keys(args.overrides) if not k.startswith(RESUMABLE_OVERRIDES)
            ]
            if fixed:
                raise ConfigError(
                    f"cannot change {fixed} when resuming (only {list(RESUMABLE_OVERRIDES)})"
                )
            run_dir = (
                args.resume
                if os.path.isdir(args.resume)
                else os.path.dirname(os.path.dirname(args.resume))
            )
            saved = os.path.join(run_dir, "config.yaml")
            if not os.path.isfile(saved):
                raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
            cfg = load_config(saved, args.overrides)
        else:
            cfg = load_config(args.config, args.overrides)
        if args.print_config:
            print(OmegaConf.to_yaml(OmegaConf.structured(cfg)), end="")
            return 0
        result = train(cfg, resume=args.resume)
    except (ConfigError, CheckpointError, ModuleNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = f"{result.status}: {result.env_steps} env steps, {result.updates} updates"
    if result.eval_return is not None:
        summary += f", greedy eval return {result.eval_return:.3f}"
    print(
        f"{summary}. {result.message}".rstrip(". ") + f"\nrun directory: {result.run_dir}",
        file=sys.stderr if result.status == "failed" else sys.stdout,
    )
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
