"""Greedy evaluation over E episodes, and the marl-eval JSON file the results go to.

Evaluation runs on its own batched core (never the training one), one episode per env
copy, so a recurrent policy needs no hidden-state resets and a copy's later (auto-reset)
episodes are simply ignored. Episode ``k`` is seeded ``seed + k``: the same seed evaluates
the same E layouts every time, so evaluation points along a run compare like with like.

``eval.json`` follows the marl-eval layout (Gorsane et al. 2022)::

    {env_name: {task_name: {algorithm: {"seed_0": {"step_0": {"step_count": 0, "return": [...]},
                                                   ...,
                                                   "absolute_metrics": {"return": [...]}}}}}}
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

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

    def set_absolute(self, metrics: dict[str, list[float]]) -> None:
        """The absolute metrics (the best policy evaluated over many episodes)."""
        self.runs["absolute_metrics"] = {k: list(map(float, v)) for k, v in metrics.items()}
        self.save()

    def save(self) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
