"""The training config: typed dataclasses (schema and defaults), the YAML/``key=value`` loader,
the overrides a resumed run may take, and building the env and learner a config names."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import textwrap
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import envs
from algorithms import ALGORITHMS, get_algorithm
from algorithms.base import AlgoConfig
from algorithms.config import field_docs, merge_layers
from algorithms.ippo import IPPOConfig
from algorithms.runs.evaluation import ACTIONS, EPISODE_SEEDS
from envs.hints import closest_hint

#: the resolved config a run directory holds
CONFIG_FILE = "config.yaml"
#: the torch devices a config may name (``device``, ``env.device``)
DEVICES = r"cpu|cuda(:\d+)?"
#: config keys that may change when a run is resumed (they do not change what is learned)
RESUMABLE_OVERRIDES = ("total_env_steps", "device", "torch_threads", "log.", "checkpoint.", "eval.")


@dataclass
class EnvConfig:
    """Which env to train on."""

    id: str = "Foraging-8x8-2p-2f-coop-v3"
    """A registered env id or alias (``envs.list_envs(aliases=True)`` lists them)."""
    num_envs: int = 128
    """Env copies stepped together (B)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the env; they override those the id implies."""
    device: str | None = None
    """Train on the env's torch core on this device (cpu, cuda, cuda:N; it must equal
    ``device``): rollouts, advantages and minibatches stay there. On-policy learners only;
    evaluation plays the numpy core (same rules). None: the numba/numpy core."""


@dataclass
class LogConfig:
    """Where and how progress is reported."""

    dir: str = "runs"
    """Parent directory of run directories."""
    tensorboard: bool = True
    """Write TensorBoard event files."""
    csv: bool = False
    """Also write every scalar to metrics.csv, one row per (update, key): update, env_steps, key, value."""
    wandb: bool = False
    """Also log to Weights & Biases (the optional extra: pip install 'marlgym[wandb]')."""
    wandb_mode: str = "offline"
    """wandb's mode: offline (files under the run directory; ``wandb sync`` uploads them) or online."""
    wandb_project: str = "marlgym"
    """The wandb project the run is logged under."""
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
    """Stop training once the mean evaluation return reaches this (None: never)."""
    episodes_seed: str = "fresh"
    """Which episodes evaluations play: ``fresh`` (new seeds at every evaluation; the absolute
    metric on a held-out set disjoint from them) or ``fixed`` (the same ``episodes`` seeds every
    time, and the absolute metric's set starts with them: the protocol before, for comparison)."""
    actions: str = "auto"
    """How agents act in evaluation: ``greedy`` (the policy's mode), ``sampled`` (drawn from the
    policy, seeded per evaluation; EPyMARL's test-time rule for its actor-critic learners) or
    ``auto`` (sampled for on-policy learners with a stochastic policy over discrete actions,
    greedy otherwise)."""

    def __post_init__(self):
        for key, choices in (("episodes_seed", EPISODE_SEEDS), ("actions", ACTIONS)):
            if getattr(self, key) not in choices:
                raise ValueError(
                    f"eval.{key} must be one of {', '.join(choices)}; got {getattr(self, key)!r}"
                )


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
    init_policy: str | None = None
    """Start from a saved policy: a policy or acting file (policy.pt, policy_best.pt) or a run
    directory (its policy.pt). Only the acting weights are loaded; critics, target networks,
    optimisers and counters start new (a fine-tuning or curriculum stage). Ignored on resume."""
    device: str = "cpu"
    """Torch device: cpu, or cuda / cuda:N where available."""
    torch_threads: int = 1
    """Torch CPU threads (small networks: 1 is fastest on a 2-core machine; 0 leaves torch's default)."""
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        checks = {
            "seed": 0 <= self.seed < 2**32,  # numpy's and torch's seeds are unsigned
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
        if self.log.wandb_mode not in ("offline", "online"):
            raise ValueError(
                f"log.wandb_mode must be offline or online, got {self.log.wandb_mode!r}"
            )
        if not re.fullmatch(DEVICES, self.device):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.env.device is not None:
            if not re.fullmatch(DEVICES, self.env.device):
                raise ValueError(
                    f"env.device must be 'cpu', 'cuda', 'cuda:N' or null, got {self.env.device!r}"
                )
            if _canonical(self.env.device) != _canonical(self.device):
                raise ValueError(
                    f"env.device={self.env.device} steps the env there, but device={self.device} "
                    f"trains the learner elsewhere; rollouts stay on one device: set "
                    f"device={self.env.device}, or leave env.device unset for the numpy core"
                )
        if self.run_name is not None and (
            not self.run_name or "/" in self.run_name or self.run_name.startswith(".")
        ):
            raise ValueError(f"run_name must be a plain directory name, got {self.run_name!r}")


def _canonical(device: str) -> str:
    """``cuda`` as ``cuda:0``, so that equal devices compare equal."""
    return "cuda:0" if device == "cuda" else device


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


class ConfigError(ValueError):
    """A configuration problem found before training starts."""


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
    sources = ((file_cfg, f" (from {config_file})"), (cli_cfg, " (from the command line)"))
    try:  # the project's one checked merge: errors name the key, its origin and the closest key
        return merge_layers(TrainConfig(algo=config_cls()), sources)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def load_run_config(resume: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """The saved config of the run ``resume`` names (a run directory or a checkpoint file),
    with the overrides a resumed run may take (:data:`RESUMABLE_OVERRIDES`)."""
    fixed = [
        k
        for k in (item.split("=", 1)[0] for item in overrides)
        if not k.startswith(RESUMABLE_OVERRIDES)
    ]
    if fixed:
        raise ConfigError(f"cannot change {fixed} when resuming (only {list(RESUMABLE_OVERRIDES)})")
    if not os.path.exists(resume):
        raise ConfigError(
            f"--resume {resume}: no such run directory or checkpoint file "
            "(give runs/<name>, or runs/<name>/checkpoints/update_<n>.pt)"
        )
    run_dir = (
        resume
        if os.path.isdir(resume)
        else os.path.dirname(os.path.dirname(os.path.abspath(resume)))
    )
    saved = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(saved):
        raise ConfigError(f"{run_dir} is not a run directory (it has no config.yaml)")
    return load_config(saved, overrides)


def config_yaml(cfg: TrainConfig, docs: bool = False) -> str:
    """The resolved config as YAML (what ``--print-config`` prints and config.yaml holds);
    ``docs``: each key's field docstring (a section's class docstring) as a comment above it."""
    if not docs:
        return OmegaConf.to_yaml(OmegaConf.structured(cfg))
    return "\n".join(_documented_lines(cfg, "")) + "\n"


def _documented_lines(config: Any, indent: str) -> list[str]:
    """YAML lines of a dataclass instance, each field preceded by its docstring as ``# `` lines."""
    docs, lines = field_docs(type(config)), []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        doc = docs.get(f.name, "")
        if dataclasses.is_dataclass(value) and not doc:
            doc = inspect.cleandoc(type(value).__doc__ or "").split("\n\n")[0]
        width = max(40, 96 - len(indent) - 2)
        doc = " ".join(doc.replace("``", "`").split())
        lines += [f"{indent}# {line}" for line in textwrap.wrap(doc, width)]
        if dataclasses.is_dataclass(value):
            lines.append(f"{indent}{f.name}:")
            lines += _documented_lines(value, indent + "  ")
        else:  # OmegaConf writes the value (quoting, None, {} and lists) as config.yaml does
            text = OmegaConf.to_yaml({f.name: value}).rstrip("\n")
            lines += [indent + line for line in text.split("\n")]
    return lines


def save_config(cfg: TrainConfig, path: str) -> None:
    OmegaConf.save(OmegaConf.structured(cfg), path)


# ---------------------------------------------------------------------- env and learner
def catalogue() -> str:
    """What ``train.py --help`` lists after its usage: the learners, the env ids, where the keys are."""

    def wrap(names):
        return textwrap.fill(
            ", ".join(names),
            96,
            initial_indent="  ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        )

    learners, ids = wrap(sorted(ALGORITHMS)), wrap(envs.list_envs(aliases=True))
    return (
        f"learners (algo=<name>):\n{learners}\n"
        f"env ids (env.id=<id>; aliases by example, e.g. every lbforaging id):\n{ids}\n"
        "every config key with its value (--docs: and its doc): "
        "python train.py --print-config [--docs] [algo=<name>]"
    )


def make_env(cfg: TrainConfig, num_envs: int | None = None, device: str | None = None):
    """The batched core the config names (its torch core on ``device`` if given: the trainer's,
    with ``env.device``); bad ids and keyword arguments become ConfigErrors."""
    try:
        entry, _ = envs.spec(cfg.env.id)
    except KeyError as err:
        raise ConfigError(f"env.id: {err.args[0]}") from None
    if device is not None and not envs.has_torch_core(cfg.env.id):
        raise ConfigError(
            f"env.device={device}: {cfg.env.id} has no torch core; torch cores exist for "
            f"{envs.torch_core_ids()} and their aliases. Leave env.device unset for the numpy core"
        )
    factory = entry.core or entry.parallel
    target = factory.__init__ if inspect.isclass(factory) else factory
    check_env_kwarg_types(cfg.env.id, target, cfg.env.kwargs)
    try:
        return envs.make_vec(
            cfg.env.id, num_envs or cfg.env.num_envs, device=device, **cfg.env.kwargs
        )
    except TypeError as err:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if match:
            params = [
                p for p in inspect.signature(target).parameters if p not in ("self", "num_envs")
            ]
            raise ConfigError(
                f"unknown env keyword 'env.kwargs.{match[1]}' for {cfg.env.id}"
                f"{closest_hint(match[1], params)}"
            ) from None
        if str(err).split(" ")[0] in cfg.env.kwargs:  # the envs name the argument first
            raise ConfigError(f"env.kwargs.{err} (for {cfg.env.id})") from None
        if entry.core is None and cfg.env.kwargs:
            raise _refused(cfg, err) from None
        raise
    except ValueError as err:
        raise ConfigError(f"env.kwargs: {err}") from None
    except ImportError:
        raise  # a missing package, not a keyword
    except Exception as err:
        if entry.core is None and cfg.env.kwargs:  # a PettingZoo env of the user's, no hints
            raise _refused(cfg, err) from None
        raise


def _refused(cfg: TrainConfig, err: Exception) -> ConfigError:
    """A generic PettingZoo env (``register(id, parallel=...)``) that failed on its keywords,
    which its factory's signature did not let :func:`check_env_kwarg_types` check."""
    given = ", ".join(f"{k}={v!r}" for k, v in cfg.env.kwargs.items())
    return ConfigError(
        f"env.kwargs for {cfg.env.id} ({given}): the env failed on them with "
        f"{type(err).__name__}: {err}"
    )


_PLAIN = (str, int, float, bool, type(None))


def _admitted(hint: Any) -> set[type] | None:
    """The runtime types an annotation admits, or None where it may admit anything."""
    if hint is Any:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [_admitted(arg) for arg in typing.get_args(hint)]
        return None if any(p is None for p in parts) else set().union(*parts)
    origin = typing.get_origin(hint) or hint
    if origin is typing.Literal:
        return {type(arg) for arg in typing.get_args(hint)}
    return {origin} if isinstance(origin, type) else None


def _by_default(default: Any) -> set[type] | None:
    """What an unannotated keyword admits, judged by its default: a flag, a number, or anything."""
    if isinstance(default, bool):
        return {bool}
    return {int, float} if isinstance(default, (int, float)) else None


def check_env_kwarg_types(env_id: str, target: Any, kwargs: dict[str, Any]) -> None:
    """Refuse a string where an env keyword's annotation admits only numbers or flags
    (``penalty=abc``; YAML reads ``nan`` as a string too), and a list or mapping where it
    admits only plain values, before the env meets them deep inside; raises ConfigError."""
    try:
        hints = typing.get_type_hints(target)
        params = inspect.signature(target).parameters
    except (NameError, TypeError, ValueError):
        return  # annotations this module cannot evaluate: the env checks its own arguments
    for key, value in kwargs.items():
        admitted = _admitted(hints[key]) if key in hints else None
        if key not in hints and key in params:  # no annotation: a number or flag default says
            admitted = _by_default(params[key].default)
        if admitted is None:
            continue  # anything
        # a string where no admitted type takes one (a Sequence does: the env judges it), and
        # a list or mapping where only plain values are admitted
        wrong_string = isinstance(value, str) and not any(issubclass(str, t) for t in admitted)
        wrong_container = admitted <= set(_PLAIN) and not isinstance(value, _PLAIN)
        if wrong_string or wrong_container:
            default = params[key].default if key in params else inspect.Parameter.empty
            shown = "" if default is inspect.Parameter.empty else f", default {default!r}"
            others = sorted(t.__name__ for t in admitted - set(_PLAIN))
            kinds = [t.__name__ for t in _PLAIN if t in admitted and t is not type(None)]
            names = " or ".join(kinds + others)
            names += " or None" if type(None) in admitted else ""
            got = f"the string {value!r}" if isinstance(value, str) else f"{value!r}"
            if isinstance(value, str) and value.lower().lstrip("+-") in ("nan", "inf"):
                got += " (YAML reads nan and inf as strings; write .nan or .inf)"
            raise ConfigError(f"env.kwargs.{key} for {env_id} expects {names}{shown}; got {got}")


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
    if cfg.log.wandb:
        from algorithms.runs.logger import import_wandb

        import_wandb()  # the optional extra, named if missing
    _, learner_cls = get_algorithm(cfg.algo.name)
    if cfg.env.device is not None and not learner_cls.trains_on_device:
        able = sorted(n for n, (_, cls) in ALGORITHMS.items() if cls.trains_on_device)
        raise ConfigError(
            f"env.device: {cfg.algo.name} cannot train on a torch core; the learners that can: "
            f"{', '.join(able)}. Leave env.device unset for the numpy core"
        )
    env = make_env(cfg, device=cfg.env.device)
    try:
        learner = learner_cls(cfg.algo, env, device, cfg.seed)
    except ValueError as err:
        raise ConfigError(f"{cfg.algo.name} on {cfg.env.id}: {err}") from None
    return env, learner
