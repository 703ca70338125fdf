"""The MANSA learner: the switcher's collection loop over one env, feeding both learners.

Per env copy and step the switcher decides who acts (within the budget), each side picks the
actions of the copies it plays, the env steps once, and both sides record the step (see
:mod:`algorithms.mansa.sides`). After ``rollout_length`` steps both sides update, then the
switcher (on the team reward minus ``cost`` per granted call).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from algorithms.base import Learner, NonFiniteLossError
from algorithms.mansa.acting import JointActing
from algorithms.mansa.config import MANSAConfig
from algorithms.mansa.decisions import UNLIMITED, SwitchDecisions
from algorithms.mansa.learn_calls import LearnCalls
from algorithms.mansa.learn_policy import JointRuleSide
from algorithms.mansa.learn_value import RULE_LEARNERS, ValueRuleSide
from algorithms.mansa.sides import side
from algorithms.mansa.switcher import Switcher, SwitchMemory, stall_counts
from algorithms.mansa.transfer import DemonstrationIQL, StandInSeat, transfer_side
from algorithms.on_policy import ValueNorm
from algorithms.registry import get_algorithm

TIMERS = ("il_act", "cl_act", "il_update", "cl_update", "switcher", "env")


class MANSALearner(JointActing, SwitchDecisions, LearnCalls, Learner):
    """An IL learner, a CL learner and a :class:`Switcher` that decides per copy and step who acts."""

    needs_state = True
    act_needs_state = True

    def __init__(
        self, cfg: MANSAConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0
    ):
        super().__init__(cfg, env, device, seed)
        b = env.num_envs
        self.length = cfg.rollout_length
        learned = cfg.switcher.mode == "learned"
        #: the two sides (:mod:`algorithms.mansa.sides`); ``.learner`` is the learner itself. With
        #: switch=learn in the value pairing one learner applies both rules: ``cl`` is None
        self.il, self.cl = None, None
        if cfg.learn and not cfg.on_policy:
            rule = RULE_LEARNERS[cfg.cl](cfg.cl_config, env, device, seed)
            self.il = ValueRuleSide(rule, keep=learned)
        elif cfg.transfer_weight > 0:  # IL also learns CL's actions (:mod:`.transfer`)
            il_cls = DemonstrationIQL if cfg.il == "iql" else get_algorithm(cfg.il)[1]
            il = il_cls(cfg.il_config, env, device, seed)
            self.il = transfer_side(il, cfg.transfer_weight)
            self.cl = side(get_algorithm(cfg.cl)[1](cfg.cl_config, env, device, seed))
        else:
            self.il = side(get_algorithm(cfg.il)[1](cfg.il_config, env, device, seed))
            self.cl = side(get_algorithm(cfg.cl)[1](cfg.cl_config, env, device, seed))
            if cfg.learn:  # one side: IPPO's actor with both critics (:mod:`.learn_policy`)
                self.il, self.cl = JointRuleSide(self.il, self.cl), None
        if cfg.demonstrator != "cl":  # the controls for transfer (:mod:`.transfer`)
            self.cl = StandInSeat(self.cl, cfg.demonstrator, self.il, seed)
        #: switch=learn: running statistics of the switcher's signal (its scale)
        self.signal_norm = ValueNorm(device=self.device)
        self.budget = cfg.budget
        state_dim = int(np.prod(env.state_space.shape))
        self.stall_input = cfg.switcher.stall_input
        inputs = state_dim + int(self.budget is not None) + int(self.stall_input)
        self.switcher = Switcher(cfg.switcher, inputs, b, self.length, self.device, self.seed)
        self.max_length = int(getattr(env, "max_episode_steps", 0) or 200)
        #: CL calls per episode step (index clipped to max_length - 1), over the whole run
        self.cl_calls_by_step = np.zeros(self.max_length, dtype=np.int64)
        #: called as ``call_recorder(env, cl [B], step [B])`` before every training env step
        self.call_recorder: Callable[[Any, np.ndarray, np.ndarray], None] | None = None

        obs, _ = env.reset(seed=self.seed)
        self._obs = obs
        self._step = np.zeros(b, dtype=np.int64)  # step within the current episode, per copy
        self._episode_calls = np.zeros(b, dtype=np.int64)
        self._run_calls_left = UNLIMITED if self.budget is None else int(self.budget)
        self._last_obs = np.zeros_like(obs)  # the joint observation at the last decision
        self._stall = np.zeros(b, dtype=np.int64)  # its stall count
        self.cl_calls = 0
        self.timers = dict.fromkeys(TIMERS, 0.0)

    # ------------------------------------------------------------------ collection
    @contextmanager
    def _timer(self, name: str, active: bool = True) -> Iterator[None]:
        """Add the wall-clock seconds of the block to ``timers[name]`` (if ``active``)."""
        tick = time.perf_counter()
        yield
        if active:
            self.timers[name] += time.perf_counter() - tick

    def _joint_actions(
        self,
        obs: np.ndarray,
        mask: np.ndarray,
        state: np.ndarray,
        cl: np.ndarray,
        pick: Callable[[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
        timed: bool,
    ) -> np.ndarray:
        """Each side's actions where it plays: ``pick(side, obs, mask, state, rows)`` gets every
        copy and the side's rows; a recurrent side's even with no rows (its GRU follows each copy)."""
        actions = np.zeros((len(cl), self.env.num_agents), dtype=np.int64)
        for learner_side, rows, timer in (
            (self.il, np.flatnonzero(~cl), "il_act"),
            (self.cl, np.flatnonzero(cl), "cl_act"),
        ):
            recurrent = learner_side is not None and learner_side.recurrent
            if rows.size or recurrent:
                with self._timer(timer, timed):
                    actions[rows] = pick(learner_side, obs, mask, state, rows)
        return actions

    @torch.no_grad()
    def _collect(self) -> dict[str, float]:
        env, b, sw, cost = self.env, self.env.num_envs, self.switcher, self.cfg.cost
        gamma, learned = self.cfg.switcher.gamma, self.cfg.switcher.mode == "learned"
        shared = self.budget is not None and self.cfg.budget_scope == "run"
        calls, p_sum, finished_calls, finished_left, call_steps = 0, 0.0, [], [], []
        self.rollout_calls = np.zeros((self.length, b), dtype=bool)
        self.rollout_steps = np.zeros((self.length, b), dtype=np.int64)  # step within the episode
        for t in range(self.length):
            obs = self._obs.reshape(b, env.num_agents, -1)
            mask, state = env.action_mask(), env.state().reshape(b, -1)
            with self._timer("switcher"):
                calls_left, stall = self._calls_left(), self._stall_now()
                inputs = self._inputs(state, calls_left, stall)
                cl, choices, log_probs, p_cl = self._decide(
                    inputs,
                    calls_left,
                    greedy=False,
                    shared=shared,
                    explore=self.cfg.switcher.explore,
                )
            acting = cl & (not self.cfg.learn)  # with switch=learn IL's agents always act
            actions = self._joint_actions(
                obs, mask, state, acting, lambda s, o, m, x, r: s.behaviour(o, m, x, r), timed=True
            )
            if self.call_recorder is not None:
                self.call_recorder(env, cl.copy(), self._step.copy())

            with self._timer("env"):
                step = env.step(actions)
            next_obs, rewards, terminated, truncated, info = step
            for learner_side, own, timer in self._recorders(cl):
                with self._timer(timer):
                    learner_side.record(t, obs, mask, state, actions, own, step)

            # bookkeeping: calls, budget, where in the episode
            self.rollout_calls[t] = cl
            n_calls = int(cl.sum())
            calls += n_calls
            p_sum += float(p_cl.sum())
            self.cl_calls += n_calls
            self._episode_calls += cl
            if shared:
                self._run_calls_left -= n_calls
            np.add.at(self.cl_calls_by_step, np.minimum(self._step[cl], self.max_length - 1), 1)
            call_steps.extend(self._step[cl].tolist())
            self.rollout_steps[t] = self._step
            self._step += 1
            self._last_obs, self._stall = self._obs, stall

            ended = info.get("_final", np.zeros(b, dtype=bool))
            if learned:  # the switcher's reward: team reward minus the cost of the calls granted
                with self._timer("switcher"):  # (switch=learn: paid after the rollout instead)
                    team = rewards.sum(axis=1) if env.team_reward == "sum" else rewards.mean(axis=1)
                    sw_rewards = team.astype(np.float32) - cost * cl
                    if self.cfg.learn:
                        sw_rewards = np.zeros(b, dtype=np.float32)
                    bootstrap = ended & ~terminated.any(axis=1)
                    if bootstrap.any():  # time limit: bootstrap from the final state
                        final_stall = stall_counts(
                            info.get("final_obs", next_obs),
                            self._obs,
                            stall,
                            np.zeros(b, dtype=bool),
                        )
                        final_inputs = self._inputs(
                            info["final_state"], self._calls_left(), final_stall
                        )
                        sw_rewards = (
                            sw_rewards + gamma * sw.value(final_inputs).cpu().numpy() * bootstrap
                        )
                    sw.buffer.store(
                        t,
                        inputs=inputs,
                        allowed=torch.as_tensor(calls_left > 0),
                        actions=choices,
                        log_probs=log_probs,
                        values=sw.value(inputs),
                        rewards=sw_rewards,
                        dones=ended,
                    )
            if ended.any():
                finished_calls.extend(self._episode_calls[ended].tolist())
                finished_left.extend(self._calls_left()[ended].tolist())
                self._episode_calls[ended] = 0
                self._step[ended] = 0
            self._obs = next_obs
            self.episodes.add(info)
        self.env_steps += self.length * b
        steps = self.length * b
        metrics = {
            "mansa/cl_fraction": calls / steps,
            "mansa/cl_prob": p_sum / steps,
            "mansa/cl_calls_used": float(self.cl_calls),
            "mansa/cl_fraction_total": self.cl_calls / max(self.env_steps, 1),
        }
        if call_steps:
            metrics["mansa/cl_mean_step"] = float(np.mean(call_steps))
        if finished_calls:
            metrics["mansa/episode_cl_calls"] = float(np.mean(finished_calls))
            metrics["mansa/episode_cl_calls_max"] = float(np.max(finished_calls))
        if self.budget is not None:
            if self.cfg.budget_scope == "run":
                metrics["mansa/cl_calls_left"] = float(self._run_calls_left)
            elif finished_left:
                metrics["mansa/cl_calls_left"] = float(
                    np.mean(finished_left)
                )  # at the end of episodes
        return metrics

    def _recorders(self, cl: np.ndarray) -> list[tuple[Any, np.ndarray, str]]:
        """``(side, steps [B], timer)``: the steps each side learns from (value switch=learn: one
        side, given the calls)."""
        if self.cl is None:
            return [(self.il, cl, "il_update")]
        return [(self.il, ~cl, "il_update"), (self.cl, cl, "cl_update")]

    def train_iteration(self) -> dict[str, float]:
        metrics = self._collect()
        b = self.env.num_envs
        obs, state = self._obs.reshape(b, self.env.num_agents, -1), self.env.state().reshape(b, -1)
        if self.cfg.learn and self.cfg.switcher.mode == "learned":
            with self._timer("switcher"):
                metrics.update(self._pay_switcher(obs, state))
        if self.cfg.switcher.mode == "hindsight":
            with self._timer("switcher"):
                metrics.update(self._hindsight_calls(obs, state))
        for prefix, learner_side, timer in (
            ("il", self.il, "il_update"),
            ("cl", self.cl, "cl_update"),
        ):
            if learner_side is None:
                continue
            cl_before = learner_side.cl_seconds()
            with self._timer(timer):
                try:
                    sub = learner_side.update(self.length * b, obs, state)
                except NonFiniteLossError as error:  # say which learner's loss it was
                    raise NonFiniteLossError(
                        f"{prefix}/{error.loss}", error.update, error.value
                    ) from error
            for key, value in sub.items():
                group, _, rest = key.partition("/")
                metrics[f"{group}/{prefix}/{rest}"] = value
            cl_part = learner_side.cl_seconds() - cl_before
            self.timers["il_update"] -= cl_part  # switch=learn: the central rule's part is CL's
            self.timers["cl_update"] += cl_part
        if self.cfg.switcher.mode == "learned":
            with self._timer("switcher"):
                with torch.no_grad():
                    last_values = self.switcher.value(
                        self._inputs(state, self._calls_left(), self._stall_now())
                    )
                metrics.update(self.switcher.update(last_values, self.updates + 1))
        self.updates += 1
        for name, seconds in self.timers.items():
            metrics[f"mansa/time_{name}"] = seconds
        learn = sum(self.timers[k] for k in ("il_act", "cl_act", "il_update", "cl_update"))
        metrics["mansa/cl_time_share"] = (self.timers["cl_act"] + self.timers["cl_update"]) / max(
            learn, 1e-12
        )
        if self.cfg.learn:  # the share of the samples learned with the centralised rule
            rule_steps = getattr(self.il.learner, "rule_steps", None)
            metrics["mansa/cl_update_share"] = (
                rule_steps["central"] / max(sum(rule_steps.values()), 1)
                if rule_steps is not None
                else self.cl_calls / max(self.env_steps, 1)
            )
        return metrics

    def set_horizon(self, total_env_steps: int | None) -> None:
        super().set_horizon(total_env_steps)
        for learner_side in filter(None, (self.il, self.cl)):  # the switcher's rate is constant
            learner_side.set_horizon(total_env_steps)

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(
        self, obs, mask=None, state=None, hidden=None, greedy=True, switcher_greedy: bool = False
    ):
        """The joint policy: the switcher's choice, then that learner's (greedy) actions.

        The switcher samples IL or CL from its policy, as in training (without ``switcher.explore``),
        whatever ``greedy`` says: its policy allocates a budget of calls, and its most likely choice
        is IL wherever its CL probability stays below one half, which a budget of a few calls per
        episode makes usual (without ``stall_input`` a greedy switcher then hardly ever calls CL, and
        MANSA is its IL). ``switcher_greedy=True`` takes that most likely choice instead.

        ``hidden`` (a :class:`SwitchMemory`, None at the start of an episode) carries each copy's
        calls left: with ``budget_scope=episode`` every copy starts with the full budget, with
        ``run`` with what the training run has left (evaluation does not spend it); and the last
        joint observation and its stall count, for ``stall_input``.
        """
        if state is None:
            raise ValueError(
                "MANSALearner.act needs the global state (act_needs_state): the switcher observes it"
            )
        b = obs.shape[0]
        if mask is None:
            mask = np.ones((b, self.env.num_agents, self.env.num_actions), dtype=bool)
        if hidden is None:
            hidden = self.initial_memory(b)
        calls_left, flat_state = hidden.calls_left, np.asarray(state).reshape(b, -1)
        stall = hidden.stall_of(obs)
        inputs = self._inputs(flat_state, calls_left, stall)
        cl, _, _, _ = self._decide(
            inputs, calls_left, switcher_greedy, shared=False, generator=self.switcher.act_generator
        )
        cl &= not self.cfg.learn  # switch=learn: IL's agents act, and evaluation learns nothing
        return self.play_calls(obs, mask, flat_state, cl, hidden, greedy)

    @torch.no_grad()
    def play_calls(self, obs, mask, state, cl, hidden, greedy=True):
        """IL's (greedy) actions, CL's on the copies ``cl`` (``[B]`` bool), and the memory after the
        step: :meth:`act` once its switcher has chosen, or a scripted or random choice (benchmarks)."""
        b, states = len(cl), dict(zip((self.il, self.cl), hidden.agents, strict=True))

        def pick(side, o, m, x, rows):
            actions, states[side] = side.greedy(o, m, x, greedy, rows, states[side])
            return actions

        obs, state = np.asarray(obs), np.asarray(state).reshape(b, -1)
        actions = self._joint_actions(
            obs.reshape(b, self.env.num_agents, -1), mask, state, cl, pick, False
        )
        agents, stall = (states[self.il], states[self.cl]), hidden.stall_of(obs)
        return actions, SwitchMemory(hidden.calls_left - cl, cl, obs.copy(), stall, agents)

    def policy(self):
        """switch=learn: IL's agents, which always act (their standalone policy). switch=act: None,
        as the joint policy needs the switcher on the global state (see :meth:`acting_state`)."""
        return self.il.learner.policy() if self.cfg.learn else None

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = {
            "il": self.il.learner.state_dict(),
            "il_side": self.il.state_dict(),
            "cl": self.cl.learner.state_dict() if self.cl is not None else None,
            "cl_side": self.cl.state_dict() if self.cl is not None else None,
            "switcher": self.switcher.state_dict(),
            "env": self.env,
            "obs": self._obs,
            "step": self._step.copy(),
            "episode_calls": self._episode_calls.copy(),
            "run_calls_left": self._run_calls_left,
            "last_obs": self._last_obs,
            "stall": self._stall.copy(),
            "cl_calls": self.cl_calls,
            "cl_calls_by_step": self.cl_calls_by_step.copy(),
            "timers": dict(self.timers),
            "env_steps": self.env_steps,
            "updates": self.updates,
        }
        if self.cfg.learn:  # (switch=act's checkpoints stay as they were)
            state["signal_norm"] = self.signal_norm.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env = state["env"]
        for learner_side, key in ((self.il, "il"), (self.cl, "cl")):
            if learner_side is None:
                continue
            learner_side.learner.load_state_dict(state[key])
            learner_side.learner.env = self.env
            learner_side.load_state_dict(state[f"{key}_side"])
        self.switcher.load_state_dict(state["switcher"])
        self._obs = state["obs"]
        self._step = np.array(state["step"], dtype=np.int64)
        self._episode_calls = np.array(state["episode_calls"], dtype=np.int64)
        self._run_calls_left = int(state["run_calls_left"])
        if "stall" in state:  # checkpoints from before stall_input have none (and no stall input)
            self._last_obs = state["last_obs"]
            self._stall = np.array(state["stall"], dtype=np.int64)
        if "signal_norm" in state:  # checkpoints from before switch=learn have none
            self.signal_norm.load_state_dict(state["signal_norm"])
        self.cl_calls = int(state["cl_calls"])
        self.cl_calls_by_step = np.array(state["cl_calls_by_step"], dtype=np.int64)
        self.timers = dict(state["timers"])
        self.env_steps = int(state["env_steps"])
        self.updates = int(state["updates"])
