"""Evaluation over E episodes, the protocol that picks its episodes and actions, and the
marl-eval JSON file the results go to.

Evaluation runs on its own batched core (never the training one), one episode per env
copy, so a recurrent policy needs no hidden-state resets and a copy's later (auto-reset)
episodes are simply ignored. Episode ``k`` of an evaluation seeded ``seed`` is seeded
``seed + k``.

:class:`EvalProtocol` says which seeds each evaluation plays (``eval.episodes_seed``):

- ``fresh``: evaluation ``i`` of a run plays episodes it has not played before (seeds advance
  by E per evaluation), so choosing the best policy over training does not fit a fixed set of
  layouts; the absolute metric plays a held-out set, disjoint from every selection episode.
- ``fixed`` (the protocol before): every evaluation plays the same E seeds, and the absolute
  metric's episodes begin with those same E.

and how the agents act (``eval.actions``): ``greedy`` (the mode of the policy), ``sampled``
(drawn from the policy with a generator seeded per evaluation, as EPyMARL's ``soft_policies``
selector does at test time for its actor-critic learners), or ``auto``: sampled for on-policy
learners with a stochastic policy over discrete actions, greedy for the rest (value learners,
MADDPG, controllers, and continuous actions, where the Gaussian's mean is the usual test action).

``eval.json`` follows the marl-eval layout (Gorsane et al. 2022)::

    {env_name: {task_name: {algorithm: {"seed_0": {"step_0": {"step_count": 0, "return": [...]},
                                                   ...,
                                                   "absolute_metrics": {"return": [...]}}}}}}
"""

from __future__ import annotations

import copy
import json
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from algorithms.runs.files import atomic_path

#: ``act(obs [B,N,...], mask [B,N,A] | None, state [B,S] | None, hidden) -> (actions, hidden)``
ActFn = Callable[[np.ndarray, np.ndarray | None, np.ndarray | None, Any], tuple[np.ndarray, Any]]


def evaluate(
    act: ActFn,
    make_env: Callable[[int], Any],
    episodes: int,
    seed: int,
    *,
    needs_state: bool = False,
    max_copies: int = 64,
    max_steps: int = 100_000,
) -> dict[str, list[float]]:
    """Play ``episodes`` episodes with ``act``; per-episode ``return``, ``length`` and env metrics.

    Args:
        act: the acting function (greedy for evaluation).
        make_env: builds a batched core with the given number of copies.
        episodes: how many episodes (E).
        seed: episode ``k`` uses seed ``seed + k``.
        needs_state: pass ``env.state()`` to ``act`` (e.g. for a centralised controller).
        max_copies: at most this many copies at once (episodes are run in chunks).
        max_steps: give up with an error if an episode runs longer than this.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    results: dict[str, list[float]] = defaultdict(list)
    for start in range(0, episodes, max_copies):
        copies = min(max_copies, episodes - start)
        env = make_env(copies)
        try:
            obs, _ = env.reset(seed=seed + start)
            finished = np.zeros(copies, dtype=bool)
            hidden = None
            for _ in range(max_steps):
                mask = env.action_mask() if env.is_discrete else None
                state = env.state() if needs_state else None
                actions, hidden = act(obs, mask, state, hidden)
                obs, _, _, _, info = env.step(actions)
                if "_final" in info:
                    new = info["_final"] & ~finished
                    for key, values in info["episode"].items():
                        if np.ndim(values) == 1:
                            results[key].extend(float(v) for v in values[new])
                    finished |= new
                    if finished.all():
                        break
            else:
                raise RuntimeError(
                    f"an evaluation episode ran past max_steps={max_steps} steps without ending"
                )
        finally:
            env.close()
    return dict(results)


#: ``eval.episodes_seed`` choices
EPISODE_SEEDS = ("fresh", "fixed")
#: ``eval.actions`` choices
ACTIONS = ("auto", "greedy", "sampled")
#: seeds a run's evaluations draw from: ``[base, base + SELECTION_SEEDS)`` for the periodic
#: (selection) evaluations, from ``base + SELECTION_SEEDS`` on for the held-out set
SELECTION_SEEDS = 500_000


class EvalProtocol:
    """Which episodes an evaluation plays and how its agents act (see the module docstring).

    Args:
        run_seed: the run's seed; each run evaluates on its own block of seeds.
        episodes_seed: ``fresh`` or ``fixed``.
        actions: ``auto``, ``greedy`` or ``sampled``.
    """

    def __init__(self, run_seed: int, episodes_seed: str = "fresh", actions: str = "auto"):
        for key, value, choices in (
            ("eval.episodes_seed", episodes_seed, EPISODE_SEEDS),
            ("eval.actions", actions, ACTIONS),
        ):
            if value not in choices:
                raise ValueError(f"{key} must be one of {', '.join(choices)}; got {value!r}")
        self.base = 1_000_003 * (run_seed + 1)
        self.episodes_seed, self.actions = episodes_seed, actions

    def seed(self, episodes: int, index: int | None) -> int:
        """Seed of the first episode of periodic evaluation ``index`` (0, 1, ...) of ``episodes``
        episodes, or of the absolute metric's (held-out) episodes if ``index`` is None."""
        if self.episodes_seed == "fixed":
            return self.base
        if index is None:
            return self.base + SELECTION_SEEDS
        if episodes > SELECTION_SEEDS:
            raise ValueError(f"eval.episodes must be at most {SELECTION_SEEDS}, got {episodes}")
        return self.base + (index * episodes) % (SELECTION_SEEDS - episodes + 1)

    def greedy(self, learner: Any) -> bool:
        """Whether ``learner`` is evaluated greedily under this protocol."""
        if self.actions != "auto":
            return self.actions == "greedy"
        stochastic = learner.on_policy and learner.policy() is not None and learner.env.is_discrete
        return not stochastic or learner.act_needs_state

    def act(self, learner: Any, seed: int, policy_state: dict | None = None) -> ActFn:
        """The acting function of ``learner`` (or of its policy with ``policy_state`` loaded, e.g.
        the best one seen); sampled actions draw from a generator seeded with ``seed``."""
        greedy = self.greedy(learner)
        if policy_state is None and greedy:
            return learner.act
        policy = learner.policy()
        if policy is None:
            raise ValueError(
                f"eval.actions={self.actions} needs a policy to sample from; "
                f"{type(learner).__name__} has none: use eval.actions=greedy"
            )
        if policy_state is not None:  # a saved policy, not the current one
            policy = copy.deepcopy(policy)
            policy.load_state_dict(policy_state)
        generator = None
        if not greedy:
            generator = torch.Generator(device=next(policy.parameters()).device)
            generator.manual_seed(seed)

        def act(obs, mask, state, hidden):
            return policy.act(obs, mask, hidden, greedy=greedy, generator=generator)

        return act

    def describe(self, learner: Any) -> dict[str, Any]:
        """The protocol as recorded in eval.json's summary."""
        return {
            "episodes_seed": self.episodes_seed,
            "actions": "greedy" if self.greedy(learner) else "sampled",
            "held_out": self.episodes_seed == "fresh",
        }


def marl_eval_names(env_id: str, env_kwargs: dict[str, Any] | None = None) -> tuple[str, str]:
    """marl-eval's (env_name, task_name) for an env id: the family prefix and the rest.

    ``Foraging-8x8-2p-2f-coop-v3`` -> ``("Foraging", "8x8-2p-2f-coop-v3")``; keyword arguments
    that change the task are appended, e.g. ``"8x8-2p-2f-coop-v3[sight=2]"``.
    """
    env_name, _, task = env_id.partition("-")
    task = task or env_id
    if env_kwargs:
        task += "[" + ",".join(f"{k}={env_kwargs[k]}" for k in sorted(env_kwargs)) + "]"
    return env_name, task


class MarlEvalLog:
    """One run's evaluation results in the marl-eval layout, saved atomically to ``path``."""

    def __init__(
        self,
        path: str | os.PathLike,
        env_id: str,
        env_kwargs: dict[str, Any] | None,
        algorithm: str,
        seed: int,
        data: dict | None = None,
    ):
        """``data``: the file's content to start from (a checkpoint's copy); None reads the file."""
        self.path = os.fspath(path)
        self.env_name, self.task_name = marl_eval_names(env_id, env_kwargs)
        self.algorithm = algorithm
        self.seed_key = f"seed_{seed}"
        self.data: dict = {}
        if data is not None:
            self.data = json.loads(json.dumps(data))  # a copy
        elif os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    self.data = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{self.path} is damaged ({err}); move it away to start a new evaluation log"
                ) from None

    @property
    def runs(self) -> dict:
        """This run's entry: ``{"step_k": {...}, "absolute_metrics": {...}}``."""
        task = self.data.setdefault(self.env_name, {}).setdefault(self.task_name, {})
        return task.setdefault(self.algorithm, {}).setdefault(self.seed_key, {})

    def add_step(self, step_count: int, metrics: dict[str, list[float]]) -> str:
        """Record an evaluation point (replacing one at the same step count); returns its key."""
        runs = self.runs
        steps = {v["step_count"]: k for k, v in runs.items() if k.startswith("step_")}
        key = steps.get(int(step_count), f"step_{len(steps)}")
        runs[key] = {
            "step_count": int(step_count),
            **{k: list(map(float, v)) for k, v in metrics.items()},
        }
        self.save()
        return key

    def truncate(self, max_step_count: int) -> None:
        """Forget evaluation points after ``max_step_count`` (a run resumed from an older checkpoint)."""
        runs = self.runs
        for key in [
            k for k, v in runs.items() if k.startswith("step_") and v["step_count"] > max_step_count
        ]:
            del runs[key]
        runs.pop("absolute_metrics", None)
        runs.pop("summary", None)

    @property
    def points(self) -> int:
        """How many evaluation points this run has recorded."""
        return sum(key.startswith("step_") for key in self.runs)

    def set_summary(self, summary: dict[str, Any]) -> None:
        """The run's ``summary``: marlgym's addition beside the marl-eval keys (the protocol, the
        final and the best policy's returns and where the best policy is); marl-eval's own
        loader reads only ``step_*`` and ``absolute_metrics`` (drop ``summary`` before it)."""
        self.runs["summary"] = json.loads(json.dumps(summary))
        self.save()

    def set_absolute(self, metrics: dict[str, list[float]]) -> None:
        """The absolute metrics (the best policy evaluated over many episodes)."""
        self.runs["absolute_metrics"] = {k: list(map(float, v)) for k, v in metrics.items()}
        self.save()

    def save(self) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
