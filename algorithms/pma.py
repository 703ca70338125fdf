"""Policy mirror ascent for mean-field games (PMA; Yardim, Cayci, Geist, He, ICML 2023).

N independent agents, each with its own tabular policy ``pi_i(a | s)`` and soft Q-table
``Q_i(s, a)``, learn in the N-agent game itself from the one sample path it produces (no
population simulator). The paper's independent learning loop, per PMA iteration t:

- conditional TD (policy evaluation): all agents play their fixed ``pi_t`` for ``td_steps``
  env steps and each updates its own ``Q_i`` by expected TD(0) on the entropy-regularised
  return, target ``r + gamma * sum_a' pi(a'|s') (Q(s', a') - tau log pi(a'|s'))``;
- mirror ascent (policy improvement): every agent takes the KL-regularised step
  ``argmax_u <u, Q(s,.)> + tau H(u) - (tau / eta) KL(u || pi_t(s))``, in closed form
  ``pi_{t+1} ∝ pi_t^{1/(1+eta)} * softmax(Q / tau)^{eta/(1+eta)}``.

Its fixed point is the Nash equilibrium of the tau-entropy-regularised game (in the mean-field
limit: the regularised MFG equilibrium; on route choice with ``gamma=0`` a logit equilibrium
that tends to Wardrop's user equilibrium as tau falls). Variant: tabular, as the paper's
analysis (finite states and actions). An agent's state is its observation, minus its last
``drop_obs_tail`` entries (route choice drops the previous day's route times, leaving the OD
pair); a table row is added for each (agent, state) met, up to ``max_states``. The agents
update synchronously, at the same iteration boundaries, as the paper's analysis needs.

Step sizes of the TD learning: the k-th visit of an entry within one iteration moves it by
``td_lr / (1 + td_lr_decay * (k - 1))`` toward its target (defaults: the running mean of the
iteration's targets); each iteration starts from the previous estimate (entries not visited
keep it). The mirror step size may fall linearly over training (``eta_final``). One departure
from the paper: while learning, agents play a uniform action with
probability ``explore`` (annealed, to 0 by default), since an action whose probability has
collapsed is never sampled and its Q-value goes stale. ``policy()`` is None: a table is not an
:class:`agents.policy.Policy` network; :meth:`acting_state` is the table the trainer keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from algorithms.base import AlgoConfig, Learner
from algorithms.config import check_ranges
from algorithms.registry import register_algorithm
from algorithms.value_targets import linear_schedule


@dataclass
class PMAConfig(AlgoConfig):
    """Independent policy mirror ascent with tabular conditional TD learning."""

    name: str = "pma"
    tau: float = 1.0
    """Entropy regularisation weight, in reward units (the regularised equilibrium tends to the
    unregularised one as tau falls; smaller tau also makes the mirror map less contractive)."""
    eta: float = 0.1
    """Mirror step size: the new policy is pi^(1/(1+eta)) * softmax(Q/tau)^(eta/(1+eta)),
    normalised (eta -> inf: the regularised best response; eta -> 0: no move)."""
    eta_final: float | None = None
    """Step size after ``eta_anneal_steps`` env steps, reached linearly from ``eta`` (None: eta
    throughout). A falling step averages the TD noise of more iterations into the policy."""
    eta_anneal_steps: int = 100_000
    """Env steps over which the step size falls linearly from ``eta`` to ``eta_final``."""
    gamma: float = 0.9
    """Discount of the regularised return (route choice, a repeated one-shot game: 0)."""
    td_steps: int = 8
    """Env steps per PMA iteration (the TD learning of the fixed policy pi_t); each gives one
    sample per agent and env copy."""
    td_lr: float = 1.0
    """TD step size of an entry's first visit within an iteration, in (0, 1]."""
    td_lr_decay: float = 1.0
    """The k-th visit within an iteration uses td_lr / (1 + td_lr_decay * (k - 1)) (td_lr = 1,
    decay 1: the running mean of the iteration's targets; decay 0: a constant step size)."""
    drop_obs_tail: int = 0
    """Observation entries, counted from the end, left out of the tabular state (route choice:
    k, the previous day's route times, so that the state is the OD pair)."""
    explore: float = 0.05
    """Share of steps on which an agent plays a uniformly random valid action while learning
    (a departure from the paper: its TD analysis needs every action kept visited, which a
    near-deterministic regularised policy does only in principle; stale Q-values of unplayed
    actions otherwise freeze the policy). Anneals linearly to ``explore_final``."""
    explore_final: float = 0.0
    """Exploration share after ``explore_anneal_steps`` env steps (0: the paper's dynamics)."""
    explore_anneal_steps: int = 100_000
    """Env steps over which ``explore`` falls linearly to ``explore_final``."""
    max_states: int = 1_000_000
    """Most (agent, state) table rows; more distinct observations are refused (continuous
    observations are not a finite state space: drop their continuous entries)."""

    def __post_init__(self):
        check_ranges(
            self,
            positive=("tau", "eta", "td_lr", "td_steps", "max_states"),
            unit=("explore", "explore_final"),
            non_negative=(
                "td_lr_decay",
                "drop_obs_tail",
                "explore_anneal_steps",
                "eta_anneal_steps",
            ),
        )
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"algo.gamma must lie in [0, 1), got {self.gamma}")
        if self.eta_final is not None and not self.eta_final > 0.0:
            raise ValueError(f"algo.eta_final must be > 0 or null, got {self.eta_final}")
        if self.td_lr > 1.0:
            raise ValueError(f"algo.td_lr must lie in (0, 1], got {self.td_lr}")


def masked_log_softmax(logits: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``log softmax(logits [..., A])`` over the valid actions (-inf elsewhere); a row whose
    mask allows nothing allows everything."""
    logits = np.asarray(logits, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        mask = mask | ~mask.any(axis=-1, keepdims=True)
        logits = np.where(mask, logits, -np.inf)
    top = logits.max(axis=-1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def soft_values(q: np.ndarray, log_pi: np.ndarray, tau: float) -> np.ndarray:
    """``sum_a pi(a) (q(a) - tau log pi(a))`` over ``[..., A]`` (masked actions: pi = 0)."""
    pi = np.exp(log_pi)
    safe = np.where(pi > 0, q - tau * log_pi, 0.0)
    return (pi * safe).sum(axis=-1)


def mirror_step(log_pi: np.ndarray, q: np.ndarray, tau: float, eta: float) -> np.ndarray:
    """One PMA step per row: ``log pi' = (log pi + (eta / tau) q) / (1 + eta)``, normalised."""
    return masked_log_softmax((log_pi + (eta / tau) * q) / (1.0 + eta), None)


def visit_weights(first: np.ndarray, n: np.ndarray, lr: float, decay: float) -> np.ndarray:
    """How far ``n`` visits, numbered ``first + 1 .. first + n``, move an entry toward their
    mean target: ``1 - prod_j (1 - lr / (1 + decay * (first + j - 1)))``."""
    keep = np.ones(len(n))
    for j in range(1, int(n.max(initial=0)) + 1):
        step = lr / (1.0 + decay * (first + j - 1))
        keep = np.where(n >= j, keep * (1.0 - step), keep)
    return 1.0 - keep


class PMALearner(Learner):
    """Independent tabular PMA agents (see the module docstring)."""

    supports_discrete = True
    supports_continuous = False
    on_policy = True

    def __init__(self, cfg: PMAConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0):
        super().__init__(cfg, env, device, seed)
        obs_dim = int(np.prod(env.observation_space.shape))
        if cfg.drop_obs_tail >= obs_dim:
            raise ValueError(
                f"algo.drop_obs_tail={cfg.drop_obs_tail} leaves no observation entry as the "
                f"state (observations have {obs_dim}); use 0 .. {obs_dim - 1}"
            )
        self.num_actions = env.num_actions
        self.state_dim = obs_dim - cfg.drop_obs_tail
        self.rng = np.random.default_rng(self.seed)  # actions while training
        self._act_rng = np.random.default_rng(self.seed + 1)  # act(greedy=False) only
        self._index: dict[bytes, int] = {}  # (agent, state) key -> table row
        self._keys: list[bytes] = []
        self.q = np.zeros((0, self.num_actions))
        self.log_pi = np.zeros((0, self.num_actions))
        self.visits = np.zeros((0, self.num_actions), dtype=np.int64)  # this iteration's
        self._agent_ids = np.arange(env.num_agents, dtype=np.float32)
        obs, _ = env.reset(seed=self.seed)
        self._obs, self._mask = obs, env.action_mask()
        self._agent_done = np.zeros((env.num_envs, env.num_agents), dtype=bool)

    # ------------------------------------------------------------------ the table
    @property
    def num_states(self) -> int:
        """Table rows: the (agent, state) pairs met so far."""
        return len(self._keys)

    def _state_keys(self, obs: np.ndarray) -> list[bytes]:
        """One key per agent and copy of ``obs [B, N, ...]``: its id and its state entries."""
        b, n = obs.shape[:2]
        state = np.asarray(obs, dtype=np.float32).reshape(b, n, -1)[..., : self.state_dim]
        ids = np.broadcast_to(self._agent_ids[None, :n, None], (b, n, 1))
        rows = np.ascontiguousarray(np.concatenate([ids, state], axis=-1))
        return rows.view(np.dtype((np.void, rows.shape[-1] * 4))).ravel().tolist()

    def rows(self, obs: np.ndarray, add: bool = False) -> np.ndarray:
        """Table rows ``[B, N]`` of ``obs`` (-1 where unseen, unless ``add`` makes new rows)."""
        keys = self._state_keys(obs)
        if add:
            for key in keys:
                if key not in self._index:
                    self._new_row(key)
        found = [self._index.get(key, -1) for key in keys]
        return np.asarray(found, dtype=np.int64).reshape(obs.shape[:2])

    def _new_row(self, key: bytes) -> None:
        if len(self._keys) >= self.cfg.max_states:
            raise ValueError(
                f"pma met more than algo.max_states={self.cfg.max_states} distinct (agent, state) "
                "pairs: its table needs a finite state space; leave continuous observation "
                "entries out with algo.drop_obs_tail (route choice: k) or raise algo.max_states"
            )
        self._reserve(len(self._keys) + 1)
        self._index[key] = len(self._keys)
        self._keys.append(key)

    def _reserve(self, rows: int) -> None:
        """Grow the tables by doubling until they hold ``rows`` rows (new policies uniform)."""
        while len(self.q) < rows:
            grow = max(len(self.q), 64)
            self.q = np.concatenate([self.q, np.zeros((grow, self.num_actions))])
            self.log_pi = np.concatenate(
                [self.log_pi, np.full((grow, self.num_actions), -np.log(self.num_actions))]
            )
            self.visits = np.concatenate(
                [self.visits, np.zeros((grow, self.num_actions), dtype=np.int64)]
            )

    def _log_probs(self, rows: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """``log pi [B, N, A]`` of table ``rows`` on the valid actions (unseen rows: uniform)."""
        table = self.log_pi if len(self.log_pi) else np.zeros((1, self.num_actions))
        logits = np.where((rows >= 0)[..., None], table[np.maximum(rows, 0)], 0.0)
        return masked_log_softmax(logits, mask)

    def action_probs(self, obs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The agents' current policies ``pi(. | s) [B, N, A]`` at ``obs`` (a public hook:
        benchmarks turn them into the population's expected flows)."""
        return np.exp(self._log_probs(self.rows(obs), mask))

    @property
    def explore(self) -> float:
        """The current exploration share (linear in env steps)."""
        cfg = self.cfg
        return linear_schedule(
            cfg.explore, cfg.explore_final, cfg.explore_anneal_steps, self.env_steps
        )

    @property
    def eta(self) -> float:
        """The current mirror step size (linear in env steps when ``eta_final`` is set)."""
        cfg = self.cfg
        if cfg.eta_final is None:
            return cfg.eta
        return linear_schedule(cfg.eta, cfg.eta_final, cfg.eta_anneal_steps, self.env_steps)

    # ------------------------------------------------------------------ training
    def train_iteration(self) -> dict[str, float]:
        cfg, env = self.cfg, self.env
        b = env.num_envs
        eta = self.eta  # the step of this iteration, at its start
        td_errors = []
        for _ in range(cfg.td_steps):
            rows = self.rows(self._obs, add=True)
            log_pi = self._log_probs(rows, self._mask)
            actions = sample(log_pi, self.rng)
            explore = self.rng.random(actions.shape) < self.explore
            if explore.any():
                uniform = sample(masked_log_softmax(np.zeros_like(log_pi), self._mask), self.rng)
                actions = np.where(explore, uniform, actions)
            obs, rewards, terminated, truncated, info = env.step(actions)
            self.episodes.add(info)
            mask = env.action_mask()
            next_obs, next_mask = obs, mask
            ended = info.get("_final")
            if ended is not None and "final_obs" in info:  # a truncated episode bootstraps
                next_obs, next_mask = obs.copy(), mask.copy()
                next_obs[ended] = info["final_obs"][ended]
                next_mask[ended] = info["final_action_mask"][ended]
            next_rows = self.rows(next_obs, add=True)
            next_values = soft_values(
                self.q[next_rows], self._log_probs(next_rows, next_mask), cfg.tau
            )
            targets = rewards + cfg.gamma * np.where(terminated, 0.0, next_values)
            td_errors.append(self._td_update(rows, actions, targets, ~self._agent_done))
            self._agent_done |= terminated
            if ended is not None:
                self._agent_done[ended] = False
            self._obs, self._mask = obs, mask
            self.env_steps += b
        old = self.log_pi[: self.num_states]
        new = mirror_step(old, self.q[: self.num_states], cfg.tau, eta)
        kl = float((np.exp(new) * (new - old)).sum(axis=-1).mean()) if self.num_states else 0.0
        self.log_pi[: self.num_states] = new
        self.visits[...] = 0
        self.updates += 1
        live = np.exp(self._log_probs(self.rows(self._obs), self._mask))
        entropy = -(live * np.log(np.where(live > 0, live, 1.0))).sum(axis=-1)
        return {
            "losses/td_error": float(np.mean(td_errors)),
            "losses/policy_kl": kl,
            "charts/policy_entropy": float(entropy.mean()),
            "charts/table_states": float(self.num_states),
            "charts/explore": self.explore,
            "charts/eta": eta,
        }

    def _td_update(
        self, rows: np.ndarray, actions: np.ndarray, targets: np.ndarray, live: np.ndarray
    ) -> float:
        """Move ``Q[row, action]`` toward the mean of this step's targets of that entry, as its
        visits' step sizes say; returns the mean absolute TD error."""
        flat = (rows * self.num_actions + actions)[live]
        if flat.size == 0:
            return 0.0
        entries, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        mean = np.bincount(inverse, weights=targets[live], minlength=len(entries)) / counts
        q = self.q.reshape(-1)
        visits = self.visits.reshape(-1)
        weight = visit_weights(visits[entries], counts, self.cfg.td_lr, self.cfg.td_lr_decay)
        td_error = float(np.abs(targets[live] - q[flat]).mean())
        q[entries] += weight * (mean - q[entries])
        visits[entries] += counts
        return td_error

    # ------------------------------------------------------------------ acting
    def act(self, obs, mask=None, state=None, hidden=None, greedy=True):
        """The agents' greedy (most likely) or sampled actions; unseen states act uniformly."""
        log_pi = self._log_probs(self.rows(obs), mask)
        if greedy:
            return log_pi.argmax(axis=-1), None
        return sample(log_pi, self._act_rng), None

    def acting_state(self) -> dict[str, torch.Tensor]:
        """The policy table: each row's (agent, state) key and its log-probabilities."""
        rows = self.num_states
        return {
            "keys": torch.from_numpy(self._key_array().copy()),
            "log_pi": torch.tensor(self.log_pi[:rows]),
        }

    def load_acting_state(self, state: dict[str, torch.Tensor]) -> None:
        """Act from ``state``'s table; the Q-table and visit counts are left as they are, and the
        rows past the snapshot's keep their values, so the later snapshot restores all."""
        keys, log_pi = state["keys"].numpy(), state["log_pi"].numpy()
        self._reserve(len(keys))  # a fresh learner (e.g. one rebuilt to render a saved table)
        self._keys = [row.tobytes() for row in keys]
        self._index = {key: i for i, key in enumerate(self._keys)}
        self.log_pi[: len(keys)] = log_pi

    def _key_array(self) -> np.ndarray:
        width = (1 + self.state_dim) * 4
        return np.frombuffer(b"".join(self._keys), dtype=np.uint8).reshape(self.num_states, width)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        rows = self.num_states
        return {
            "keys": self._key_array().copy(),
            "q": self.q[:rows].copy(),
            "log_pi": self.log_pi[:rows].copy(),
            "visits": self.visits[:rows].copy(),
            "rng": self.rng.bit_generator.state,
            "act_rng": self._act_rng.bit_generator.state,
            "env": self.env,
            "obs": self._obs.copy(),
            "mask": self._mask.copy(),
            "agent_done": self._agent_done.copy(),
            "env_steps": self.env_steps,
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._keys = [row.tobytes() for row in np.asarray(state["keys"], dtype=np.uint8)]
        self._index = {key: i for i, key in enumerate(self._keys)}
        self.q = np.array(state["q"], dtype=np.float64)
        self.log_pi = np.array(state["log_pi"], dtype=np.float64)
        self.visits = np.array(state["visits"], dtype=np.int64)
        self.rng.bit_generator.state = state["rng"]
        self._act_rng.bit_generator.state = state["act_rng"]
        self.env = state["env"]
        self._obs = np.array(state["obs"])
        self._mask = np.array(state["mask"])
        self._agent_done = np.array(state["agent_done"])
        self.env_steps, self.updates = int(state["env_steps"]), int(state["updates"])


def sample(log_pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``log_pi [..., A]`` by inverse-CDF sampling (one uniform each)."""
    cdf = np.cumsum(np.exp(log_pi), axis=-1)
    u = rng.random(log_pi.shape[:-1])[..., None] * cdf[..., -1:]
    return np.minimum((u >= cdf).sum(axis=-1), log_pi.shape[-1] - 1)


register_algorithm("pma", PMAConfig, PMALearner)
