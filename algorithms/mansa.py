"""MANSA (Mguni et al. 2023, "Learning Fast and Slow in Multi-Agent Systems"): learn when to call CL.

A switcher agent observes the global state (plus the fraction of the CL budget left, when a
budget is set) and decides, per env copy and step, who picks that step's joint action: the
independent learner (IL: IQL or IPPO, each agent on its own observation) or the centralised
learner (CL: QMIX or MAPPO). A CL step counts as one CL call. The switcher's reward is the team
reward minus ``cost`` per CL call; once the budget is spent, CL is masked and only IL can act.

| pairing | IL | CL | what the CL step runs | how both learn |
|---|---|---|---|---|
| value-based (first, the paper's) | ``iql`` | ``qmix`` (or ``vdn``) | QMIX's epsilon-greedy agent Qs | both replay every step |
| on-policy (second) | ``ippo`` | ``mappo`` | MAPPO's actor | each on its own steps (or all) |

``algo=mansa algo.il=iql algo.cl=qmix algo.cost=0.01 algo.budget=2 algo.il_cfg.lr=1e-3``:
the sub-learners' hyperparameters are overrides of their own config dataclasses, checked when
the config is built (an unknown key is refused naming the closest valid one).

The paper published no code; the choices it leaves open, made here:

- **Switcher**: a small PPO agent (:class:`Switcher`) with a two-way categorical policy
  (IL, CL) and its own critic on ``[state, calls left / budget]``, GAE over the copy-level
  team reward minus ``cost`` per granted call. Steps where CL was masked carry no policy
  gradient (there was no choice) but do train its critic. ``switcher.init_cl_prob`` sets the
  initial CL probability through the policy head's bias. ``switcher.explore`` (off by default)
  draws that share of training decisions uniformly between IL and CL, with the mixture's
  log-probabilities as PPO's old ones, so a switcher whose CL probability has collapsed still
  tries CL. On Foraging-8x8 (IQL + QMIX, budget 2, 2M steps, 5 seeds) 0.04 kept the switcher
  calling (without it, it stopped after about 250k steps) and gave its QMIX steps of its own:
  alone, that QMIX scores 0.902 instead of 0.721 (QMIX alone: 0.915), and MANSA 0.938 instead of
  0.816 (benchmarks/results/mansa/value_2m_insample/explore). ``switcher.mode=il`` / ``cl`` fixes
  the decision instead (IL alone, CL alone while the budget lasts) through the same code.
  ``switcher.stall_input`` (off by default) adds how many steps in a row the joint observation has
  stayed the same: a feed-forward IL played greedily can freeze on LBF (the observations repeat,
  and so do its greedy actions), which a switcher seeing one state cannot tell from an ordinary step.
  With it, a cost of 0.03 and ``explore`` 0.02 (Foraging-8x8, 5 seeds, 2M steps), MANSA meets
  issue 8's target: 0.938 with 3.21% CL calls at evaluation, a greedy switcher 0.930 with 2.23%,
  4.14% calls in training (IQL alone 0.707, QMIX alone 0.915). Calling CL only where the
  observations repeat, a scripted rule, does as well (0.933, 2.44%): the calls unfreeze IQL's
  greedy play (benchmarks/results/mansa/value_2m_insample/stall_explore0.02). Under partial
  observation (Foraging-2s-8x8) it does not help: IQL is poor there, not frozen (``.../stall_2s``).
  On Foraging-15x15-4p-5f the same settings meet the target too (greedy switcher 0.316, 3.24%
  calls in training; IQL alone 0.309, QMIX alone 0.233), but by keeping the IL's return: QMIX
  is the weaker learner there, a greedy switcher never calls it at evaluation, and a sampled
  one's calls help no more than random actions at random steps (``.../stall_15x15``).
- **Budget**: ``budget`` CL calls (None: unlimited) per episode of each env copy
  (``budget_scope=episode``, the default) or for the whole run over all copies
  (``budget_scope=run``; when more copies ask than calls are left in one step, the lowest
  copy indices get them). Only granted calls are charged ``cost``.
- **Evaluation**: ``act(greedy=True)`` samples the switcher (its calls as in training, without
  ``switcher.explore``) and takes each learner's greedy action. The switcher's policy allocates a
  budget of calls; its most likely choice (``act(switcher_greedy=True)``) is IL wherever its CL
  probability stays below one half, which a budget of one or two calls per episode makes usual.
  Without ``stall_input`` a greedy switcher then hardly ever calls CL, and MANSA is its IL; with
  it, it calls where play has frozen. benchmarks/mansa.py reports both, with controls that make
  the same share of calls at random steps, or call CL wherever the observations repeat.
- **Value-based pairing**: every step, whoever acted, goes into both learners' episode
  replays (Q-learning is off-policy), and each takes the gradient updates its own
  ``env_steps_per_update`` pays for; QMIX updates even when it was never called.
  **The CL's TD targets are in-sample by default** (``bootstrap=taken`` on the CL: bootstrap
  from the joint action taken next, greedy only where no next step was played);
  ``algo.cl_cfg.bootstrap=greedy`` restores Q-learning targets. With those, QMIX learning
  mostly from IQL's steps diverges: on Foraging-8x8 its Q-values leave QMIX-alone's range
  (about 17) after about 250k env steps and grow without bound until its gradient norm
  overflows (at 852k and 861k steps on seeds 0 and 1), even when it never acts
  (``switcher.mode=il``). A soft target or lr 1e-4 only delays it; VDN diverges too, later.
  This is the extrapolation error of off-policy bootstrapping (Fujimoto et al. 2019): QMIX's
  greedy joint actions are seldom the ones IQL takes, so nothing corrects their estimates.
  In-sample targets never reach for a joint action the data lacks; they kept QMIX's Q of the
  taken action at most 9.1 through 2M steps on 5 seeds. The price: they estimate the value of
  the behaviour, mostly IQL's, so the CL's greedy policy improves on that behaviour but is not
  QMIX-alone's (alone at 2M: 0.721 against QMIX alone's 0.915), and MANSA misses the target
  there (benchmarks/results/mansa/value_2m_insample). Two offline-RL remedies meant to keep
  greedy improvement without the divergence did not work: a CQL penalty with greedy targets
  (``cl_cfg.conservative_alpha``) diverged as fast; an expectile loss with in-sample targets
  (``cl_cfg.expectile``) played worse at 0.7 and grew without bound at 0.9
  (benchmarks/results/mansa/value_2m/README.md). Greedy targets diverge even with
  ``switcher.explore`` giving the CL about 4% of the steps (Foraging-2s-8x8,
  benchmarks/results/mansa/value_2m_insample/stall_2s_greedy_cl).
  ``python -m benchmarks.mansa_q_growth`` prints both sides' Q-values through a run.
- **On-policy pairing**: the behaviour policy mixes two actors, so each PPO learner computes
  its values on every step (GAE runs through the other learner's steps: its critic estimates
  the return of the mixed behaviour it is part of) but its actor and critic losses weight only
  its *own* steps (``active`` is 0 on the other's), where its log-probabilities are the
  behaviour's: no importance weights are needed and none can explode. A learner that made no
  step in a rollout skips its update (Adam's momentum would otherwise move it). With
  ``policy_data=all`` each also learns from the other's steps, with the behaviour's
  log-probabilities as PPO's old ones. The clip then stops the pull towards a good action
  once pi_self / pi_behaviour passes 1 + clip; a bad action it prefers more than the
  behaviour is pushed down with the full ratio as weight. Decoupled PPO (Hilton et al., clip
  around the learner's own policy, weight min(1, pi_self / pi_behaviour)) was tried and
  dropped. Fed only IPPO's steps (``switcher.mode=il``, Foraging-2s-8x8, seed 0), its MAPPO
  lost its entropy (0.04-0.09) and scored 0 sampled by 120k steps. Truncated weights give no
  signal on actions the behaviour never takes, so the policy drifts onto one. This version's
  MAPPO reached 0.67 sampled at 160k steps in the same run. On Foraging-2s-8x8 ``all`` did
  not help MANSA: 0.293 +- 0.105 against 0.319 +- 0.056 with ``own`` (3 and 5 seeds, 300k
  steps; benchmarks/results/mansa/policy_data_all), so ``own`` stays the default.
- Both sub-learners are seeded with the run's seed, so a switcher that always picks one of
  them reproduces that learner alone (with the same ``rollout_length``) bit for bit (tested).
  Recurrent sub-learners and continuous actions are not supported.

Logged (``mansa/*``): the CL fraction of this iteration's steps and of the run, CL calls used
and left, calls per finished episode, the switcher's mean CL probability, the mean episode step
of the calls, and cumulative wall-clock seconds of IL and CL action selection and updates (the
updates include storing the step). ``cl_calls_by_step`` counts calls per episode step, and
``call_recorder(env, cl [B], step [B])`` (if set) is called before every env step, so plots
can show where in the episode and on the grid CL was called (benchmarks/mansa.py).
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from agents.distributions import MaskedCategorical
from agents.networks import AgentNet
from algorithms.base import AlgoConfig, Learner, NonFiniteLossError, check_finite
from algorithms.on_policy import RolloutBuffer, ValueNorm, compute_gae, ppo_losses, weighted_mean
from algorithms.ppo import PPOLearner
from algorithms.registry import get_algorithm, register_algorithm
from algorithms.value_based import ValueLearner

#: learners allowed on each side, by family
IL_LEARNERS = {"iql": "value", "ippo": "policy"}
CL_LEARNERS = {"qmix": "value", "vdn": "value", "mappo": "policy"}
BUDGET_SCOPES = ("episode", "run")
SWITCHER_MODES = ("learned", "il", "cl")
POLICY_DATA = ("own", "all")
#: the switcher's stall input (``switcher.stall_input``) saturates after this many repeated observations
STALL_CAP = 10
#: a value CL's TD targets inside MANSA, unless ``algo.cl_cfg.bootstrap`` says otherwise (see the docstring)
CL_BOOTSTRAP = "taken"


# --------------------------------------------------------------------------- config
@dataclass
class SwitcherConfig:
    """The switcher: PPO on a two-way (IL, CL) policy over the global state."""

    mode: str = "learned"
    """learned (PPO), or fixed: il (never call CL), cl (call CL whenever the budget allows)."""
    lr: float = 3e-4
    """Adam learning rate (actor and critic)."""
    gamma: float = 0.99
    """Discount factor of the switcher's return."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    epochs: int = 4
    """Passes over each rollout."""
    minibatches: int = 2
    """Minibatches per pass."""
    clip_coef: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.01
    """Entropy bonus (keeps some CL exploration alive)."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip."""
    hidden_size: int = 64
    """Width of the hidden layers."""
    layers: int = 2
    """Hidden layers of the actor and critic."""
    init_cl_prob: float = 0.5
    """CL probability of the initial policy (set through the output bias)."""
    explore: float = 0.0
    """In training only: the share of decisions (where CL is allowed) drawn uniformly between IL and
    CL instead of from the policy, so a switcher whose CL probability has collapsed still tries CL
    (at least explore / 2 of those steps). PPO's old log-probabilities are then the mixture's."""
    stall_input: bool = False
    """Also observe how many steps in a row the agents' joint observation has stayed the same (0 at
    an episode's first step, saturating at ``STALL_CAP``, scaled to [0, 1]). The state does not show
    that play has frozen: a feed-forward IL played greedily can repeat the same observations and
    actions to the time limit (and LBF's state carries the time, so it never repeats)."""

    def check(self, prefix: str) -> None:
        if self.mode not in SWITCHER_MODES:
            raise ValueError(
                f"{prefix}.mode must be one of {list(SWITCHER_MODES)}, got {self.mode!r}"
            )
        positive = {
            "lr": self.lr,
            "epochs": self.epochs,
            "minibatches": self.minibatches,
            "clip_coef": self.clip_coef,
            "max_grad_norm": self.max_grad_norm,
            "hidden_size": self.hidden_size,
            "layers": self.layers,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ValueError(f"{prefix}.{key} must be > 0, got {value}")
        for key in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{prefix}.{key} must lie in [0, 1], got {getattr(self, key)}")
        for key in ("ent_coef", "vf_coef"):
            if getattr(self, key) < 0:
                raise ValueError(f"{prefix}.{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 < self.init_cl_prob < 1.0:
            raise ValueError(f"{prefix}.init_cl_prob must lie in (0, 1), got {self.init_cl_prob}")
        if not 0.0 <= self.explore <= 1.0:
            raise ValueError(f"{prefix}.explore must lie in [0, 1], got {self.explore}")


@dataclass
class MANSAConfig(AlgoConfig):
    """MANSA: an IL and a CL learner, and a switcher that decides per step who acts."""

    name: str = "mansa"
    il: str = "iql"
    """Independent learner: iql (with cl=qmix or vdn) or ippo (with cl=mappo)."""
    cl: str = "qmix"
    """Centralised learner: qmix or vdn (with il=iql), mappo (with il=ippo)."""
    il_cfg: dict[str, Any] = field(default_factory=dict)
    """Overrides of the IL learner's config (e.g. ``algo.il_cfg.lr=1e-3``); defaults are its own."""
    cl_cfg: dict[str, Any] = field(default_factory=dict)
    """Overrides of the CL learner's config (e.g. ``algo.cl_cfg.mixing_embed_dim=64``). A value CL's
    ``bootstrap`` defaults to ``taken`` here (in-sample targets: greedy ones diverge when QMIX or VDN
    learns from IQL's steps); ``algo.cl_cfg.bootstrap=greedy`` restores them."""
    cost: float = 0.01
    """Cost charged to the switcher's reward per CL call, in the env's reward units."""
    budget: int | None = None
    """CL calls allowed per budget_scope (None: unlimited; 0: IL only)."""
    budget_scope: str = "episode"
    """What the budget covers: episode (each episode of each env copy) or run (all copies, whole run)."""
    policy_data: str = "own"
    """On-policy pairing: the steps each PPO learner's losses use: own (those it chose: exact on-policy
    gradients) or all (also the other's, with the behaviour's log-probabilities as PPO's old ones)."""
    rollout_length: int = 32
    """Steps collected from every env copy per iteration: the switcher's PPO rollout, and that of
    on-policy sub-learners (value-based ones update every env_steps_per_update steps regardless)."""
    switcher: SwitcherConfig = field(default_factory=SwitcherConfig)
    """The switcher agent."""

    def __post_init__(self):
        if self.il not in IL_LEARNERS:
            raise ValueError(f"algo.il must be one of {sorted(IL_LEARNERS)}, got {self.il!r}")
        if self.cl not in CL_LEARNERS:
            raise ValueError(f"algo.cl must be one of {sorted(CL_LEARNERS)}, got {self.cl!r}")
        if IL_LEARNERS[self.il] != CL_LEARNERS[self.cl]:
            pairs = ", ".join(
                f"il={i} cl={c}"
                for i in IL_LEARNERS
                for c in CL_LEARNERS
                if IL_LEARNERS[i] == CL_LEARNERS[c]
            )
            raise ValueError(
                f"algo.il={self.il} cannot pair with algo.cl={self.cl}; pairs: {pairs}"
            )
        if not (self.cost >= 0 and math.isfinite(self.cost)):
            raise ValueError(f"algo.cost must be a finite number >= 0, got {self.cost}")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"algo.budget must be >= 0 or None (unlimited), got {self.budget}")
        if self.budget_scope not in BUDGET_SCOPES:
            raise ValueError(
                f"algo.budget_scope must be one of {list(BUDGET_SCOPES)}, got {self.budget_scope!r}"
            )
        if self.policy_data not in POLICY_DATA:
            raise ValueError(
                f"algo.policy_data must be one of {list(POLICY_DATA)}, got {self.policy_data!r}"
            )
        if self.rollout_length < 1:
            raise ValueError(f"algo.rollout_length must be at least 1, got {self.rollout_length}")
        self.switcher.check("algo.switcher")
        il, cl = (
            self.il_config,
            self.cl_config,
        )  # refuses bad sub-learner keys now, not at build time
        for key, sub in (("il_cfg", il), ("cl_cfg", cl)):
            if sub.recurrent:
                raise ValueError(
                    f"algo.{key}.recurrent=true is not supported by mansa (the switcher hands "
                    "single steps to either learner)"
                )

    @property
    def on_policy(self) -> bool:
        """True for the IPPO/MAPPO pairing."""
        return IL_LEARNERS[self.il] == "policy"

    @property
    def il_config(self) -> AlgoConfig:
        """The IL learner's resolved config (its defaults with ``il_cfg`` applied)."""
        return self._resolved(self.il, self.il_cfg, "il_cfg")

    @property
    def cl_config(self) -> AlgoConfig:
        """The CL learner's resolved config (its defaults with ``cl_cfg`` applied)."""
        return self._resolved(self.cl, self.cl_cfg, "cl_cfg")

    def _resolved(self, name: str, overrides: dict[str, Any], key: str) -> AlgoConfig:
        sub = _sub_config(name, overrides, key)
        if self.on_policy:  # both PPO learners fill rollouts of T steps in lock step
            t = self.rollout_length
            if "rollout_length" in overrides and overrides["rollout_length"] != t:
                raise ValueError(
                    f"algo.{key}.rollout_length={overrides['rollout_length']} differs from the "
                    f"shared rollout of {t} steps; set algo.rollout_length instead"
                )
            sub.rollout_length = t
        elif key == "cl_cfg" and "bootstrap" not in overrides:
            sub.bootstrap = CL_BOOTSTRAP
        return sub


def _sub_config(name: str, overrides: dict[str, Any], key: str) -> AlgoConfig:
    """``name``'s config dataclass with ``overrides`` applied and type-checked; errors name ``algo.<key>.*``."""
    config_cls, _ = get_algorithm(name)
    if "name" in overrides:
        raise ValueError(f"algo.{key}.name cannot be set; choose the learner with algo.{key[:2]}")
    schema = OmegaConf.structured(config_cls)
    try:
        merged = OmegaConf.merge(schema, OmegaConf.create(dict(overrides)))
    except ConfigKeyError as err:
        leaf = str(err.full_key or err.key)
        close = difflib.get_close_matches(leaf, [str(k) for k in schema], n=1, cutoff=0.5)
        hint = f"; did you mean 'algo.{key}.{close[0]}'?" if close else ""
        raise ValueError(f"unknown config key 'algo.{key}.{leaf}' for {name}{hint}") from None
    except OmegaConfBaseException as err:
        raise ValueError(
            f"config key 'algo.{key}.{err.full_key}': {str(err).splitlines()[0]}"
        ) from None
    try:
        return OmegaConf.to_object(merged)
    except ValueError as err:
        raise ValueError(str(err).replace("algo.", f"algo.{key}.")) from None


# --------------------------------------------------------------------------- the switcher
class Switcher:
    """PPO over a two-way categorical (0 = IL, 1 = CL), one decision per env copy and step.

    Inputs ``[B, D]`` are the flattened global state, plus the fraction of the budget left (with a
    budget) and the stall count (with ``stall_input``): see :meth:`MANSALearner._inputs`.
    """

    def __init__(
        self,
        cfg: SwitcherConfig,
        in_dim: int,
        num_envs: int,
        length: int,
        device: torch.device,
        seed: int,
    ):
        self.cfg, self.device = cfg, device
        net = {
            "hidden_size": cfg.hidden_size,
            "layers": cfg.layers,
            "shared": True,
            "agent_id": False,
            "feature_norm": True,
            "activation": "tanh",
        }
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = AgentNet(in_dim, 2, 1, out_gain=0.01, **net).to(device)
            self.critic = AgentNet(in_dim, 1, 1, out_gain=1.0, **net).to(device)
        with torch.no_grad():
            self.actor.head.bias[1] = math.log(cfg.init_cl_prob / (1.0 - cfg.init_cl_prob))
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, eps=1e-5)
        self.value_norm = ValueNorm(device=device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.act_generator = torch.Generator(
            device=device
        )  # act(greedy=False): not training randomness
        self.act_generator.manual_seed(seed + 1)
        self.buffer = RolloutBuffer(
            length,
            {
                "inputs": ((num_envs, in_dim), torch.float32),
                "allowed": ((num_envs,), torch.float32),
                "actions": ((num_envs,), torch.int64),
                "log_probs": ((num_envs,), torch.float32),
                "values": ((num_envs,), torch.float32),
                "rewards": ((num_envs,), torch.float32),
                "dones": ((num_envs,), torch.float32),
            },
        )

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.actor(inputs.unsqueeze(-2))[0].squeeze(
            -2
        )  # one "agent": [..., 1, 2] -> [..., 2]

    @staticmethod
    def _dist(logits: torch.Tensor, allowed: torch.Tensor) -> MaskedCategorical:
        mask = torch.stack([torch.ones_like(allowed, dtype=torch.bool), allowed.bool()], dim=-1)
        return MaskedCategorical(logits, mask)

    def value(self, inputs: torch.Tensor) -> torch.Tensor:
        """Denormalised values ``[...]`` of inputs ``[..., D]``."""
        return self.value_norm.denormalize(
            self.critic(inputs.unsqueeze(-2))[0].squeeze(-1).squeeze(-1)
        )

    @torch.no_grad()
    def decide(
        self,
        inputs: torch.Tensor,
        allowed: torch.Tensor,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        explore: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(choices [B] (1 = CL), log-probs [B], unmasked CL probabilities [B])``; with ``explore``
        (sampled choices only) drawn from ``(1 - explore) * policy + explore * uniform`` over the
        allowed choices, the log-probs being that mixture's."""
        logits = self._logits(inputs)
        dist = self._dist(logits, allowed)
        if explore > 0 and not greedy:
            uniform = torch.stack([1.0 - 0.5 * allowed.float(), 0.5 * allowed.float()], dim=-1)
            dist = self._dist(((1.0 - explore) * dist.probs + explore * uniform).log(), allowed)
        choices = dist.mode() if greedy else dist.sample(generator or self.generator)
        return choices, dist.log_prob(choices), torch.softmax(logits, dim=-1)[..., 1]

    def update(self, last_values: torch.Tensor, updates: int) -> dict[str, float]:
        """Clipped PPO over the rollout in the buffer; policy terms only where CL was allowed."""
        cfg = self.cfg
        data = dict(self.buffer.data)
        advantages, returns = compute_gae(
            data["rewards"], data["values"], data["dones"], last_values, cfg.gamma, cfg.gae_lambda
        )
        free = data["allowed"]
        if free.sum() > 1:
            mean = (advantages * free).sum() / free.sum()
            std = (((advantages - mean).pow(2) * free).sum() / free.sum()).sqrt()
            advantages = (advantages - mean) / (std + 1e-8)
        self.value_norm.update(returns)
        data.update(advantages=advantages, targets=self.value_norm.normalize(returns))
        flat = {k: v.flatten(0, 1) for k, v in data.items()}
        size = flat["actions"].shape[0]
        totals: dict[str, torch.Tensor] = {}
        for _ in range(cfg.epochs):
            for idx in torch.randperm(size, generator=self.generator).tensor_split(
                min(cfg.minibatches, size)
            ):
                mb = {k: v[idx] for k, v in flat.items()}
                dist = self._dist(self._logits(mb["inputs"]), mb["allowed"])
                values = self.critic(mb["inputs"].unsqueeze(-2))[0].squeeze(-1).squeeze(-1)
                losses = ppo_losses(
                    dist.log_prob(mb["actions"]),
                    mb["log_probs"],
                    mb["advantages"],
                    dist.entropy(),
                    values,
                    values.detach(),
                    mb["targets"],
                    cfg.clip_coef,
                    weights=mb["allowed"],
                )
                losses["value_loss"] = 0.5 * weighted_mean((values - mb["targets"]).pow(2), None)
                loss = (
                    losses["policy_loss"]
                    - cfg.ent_coef * losses["entropy"]
                    + cfg.vf_coef * losses["value_loss"]
                )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
                check_finite(
                    {
                        "switcher_policy_loss": losses["policy_loss"],
                        "switcher_value_loss": losses["value_loss"],
                        "switcher_grad_norm": grad_norm,
                    },
                    updates,
                )
                self.optimizer.step()
                losses["grad_norm"] = grad_norm
                for k, v in losses.items():
                    totals[k] = totals.get(k, 0.0) + v.detach()
        count = cfg.epochs * min(cfg.minibatches, size)
        return {f"losses/switcher/{k}": float(v) / count for k, v in totals.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "value_norm": self.value_norm.state_dict(),
            "generator": self.generator.get_state(),
            "act_generator": self.act_generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.value_norm.load_state_dict(state["value_norm"])
        self.generator.set_state(state["generator"])
        self.act_generator.set_state(state["act_generator"])


# --------------------------------------------------------------------------- the two sides
class _ValueSide:
    """An IQL / QMIX / VDN learner fed by the switcher's loop through its public hooks."""

    def __init__(self, learner: ValueLearner):
        self.learner = learner

    def behaviour(self, obs: np.ndarray, mask: np.ndarray, state: np.ndarray) -> np.ndarray:
        return self.learner.behaviour_actions(obs, mask)

    def greedy(
        self, obs: np.ndarray, mask: np.ndarray, state: np.ndarray, greedy: bool
    ) -> np.ndarray:
        return self.learner.act(obs, mask, state, None, greedy=greedy)[0]

    def record(
        self, t: int, obs, mask, state, actions, own, next_obs, rewards, terminated, truncated, info
    ) -> None:
        self.learner.record_step(
            obs,
            mask,
            state if self.learner.needs_state else None,
            actions,
            next_obs,
            rewards,
            terminated,
            truncated,
            info,
        )

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        learner = self.learner
        metrics = learner.update_from_replay(new_env_steps)
        learner.updates += 1
        metrics.update(learner._exploration_metrics())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class _PolicySide:
    """An IPPO / MAPPO learner fed by the switcher's loop: values on every step, losses on its own
    steps (``policy_data=own``) or on all (``all``: the other's as off-policy data).

    This mirrors :meth:`algorithms.ppo.PPOLearner._collect` for feed-forward discrete policies,
    with the actions chosen outside and ``active`` cleared on the steps it does not learn from.
    """

    def __init__(self, learner: PPOLearner):
        self.learner = learner
        b, n = learner.env.num_envs, learner.env.num_agents
        self.agent_done = np.zeros((b, n), dtype=bool)
        self.starts = np.ones(b, dtype=bool)
        self.own_steps = 0
        #: with policy_data=all, the other side: its steps are learned from as off-policy data
        self.other: _PolicySide | None = None

    def _dist(self, obs_t: torch.Tensor, mask: np.ndarray):
        return self.learner.actor.distribution(
            obs_t, torch.as_tensor(mask).to(self.learner.device)
        )[0]

    def behaviour(self, obs: np.ndarray, mask: np.ndarray, state: np.ndarray) -> np.ndarray:
        dist = self._dist(self.learner._tensor(obs, flat_from=2), mask)
        return self.learner.actor.to_env(dist.sample(self.learner.generator))

    def greedy(
        self, obs: np.ndarray, mask: np.ndarray, state: np.ndarray, greedy: bool
    ) -> np.ndarray:
        return self.learner.act(obs, mask, state, None, greedy=greedy)[0]

    def record(
        self, t: int, obs, mask, state, actions, own, next_obs, rewards, terminated, truncated, info
    ) -> None:
        learner, gamma = self.learner, self.learner.cfg.gamma
        obs_t, state_t = learner._inputs(obs, state)
        dist = self._dist(obs_t, mask)
        actions_t = torch.as_tensor(actions).to(learner.device)
        starts = torch.as_tensor(self.starts).to(learner.device)
        values, _ = learner._value(obs_t, state_t, None, None, starts)
        rewards = learner._rewards(rewards).astype(np.float32)
        bootstrap = truncated & ~terminated & ~self.agent_done
        if bootstrap.any():  # time limit: bootstrap from the final observation's value
            final_obs, final_state = learner._inputs(
                info.get("final_obs", next_obs), info.get("final_state")
            )
            final_values, _ = learner._value(final_obs, final_state, None, None)
            rewards = rewards + gamma * final_values.cpu().numpy() * bootstrap
        log_probs = dist.log_prob(actions_t)
        if self.other is None:
            active = ~self.agent_done & own[:, None]
        else:  # the other's steps too, with its (the behaviour's) log-probabilities as PPO's old ones
            behaviour = self.other._dist(obs_t, mask).log_prob(actions_t)
            log_probs = torch.where(
                torch.as_tensor(own).to(learner.device)[:, None], log_probs, behaviour
            )
            active = ~self.agent_done
        learner.buffer.store(
            t,
            obs=obs_t,
            log_probs=log_probs,
            values=values,
            actions=actions_t,
            rewards=rewards,
            dones=terminated | truncated,
            active=active,
            starts=self.starts,
            mask=torch.as_tensor(mask),
        )
        if state_t is not None:
            learner.buffer.store(t, state=state_t)
        self.own_steps += len(own) if self.other is not None else int(own.sum())
        self.agent_done |= terminated | truncated
        final = info.get("_final")
        self.starts = np.zeros_like(self.starts) if final is None else final.copy()
        if final is not None:
            self.agent_done[final] = False
        learner.env_steps += len(actions)

    def update(self, new_env_steps: int, obs: np.ndarray, state: np.ndarray) -> dict[str, float]:
        learner = self.learner
        if self.own_steps == 0:  # nothing of its own to learn from in this rollout
            return {}
        self.own_steps = 0
        with torch.no_grad():
            obs_t, state_t = learner._inputs(obs, state)
            starts = torch.as_tensor(self.starts).to(learner.device)
            last_values, _ = learner._value(obs_t, state_t, None, None, starts)
        metrics = learner._update(last_values)
        learner.updates += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "agent_done": self.agent_done.copy(),
            "starts": self.starts.copy(),
            "own_steps": self.own_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent_done = np.array(state["agent_done"], dtype=bool)
        self.starts = np.array(state["starts"], dtype=bool)
        self.own_steps = int(state["own_steps"])


def _side(learner: Learner) -> _ValueSide | _PolicySide:
    return _ValueSide(learner) if isinstance(learner, ValueLearner) else _PolicySide(learner)


# --------------------------------------------------------------------------- the learner
@dataclass
class SwitchMemory:
    """What :meth:`MANSALearner.act` carries between steps of an evaluation episode."""

    calls_left: np.ndarray
    """``[B]`` CL calls each copy may still make (a large number when unlimited)."""
    cl: np.ndarray
    """``[B]`` True where the last step's joint action came from CL."""
    obs: np.ndarray | None = None
    """``[B, ...]`` the last step's joint observation (None before an episode's first step)."""
    stall: np.ndarray | None = None
    """``[B]`` steps in a row it had stayed the same (see :func:`stall_counts`)."""

    def stall_of(self, obs: np.ndarray) -> np.ndarray:
        """``[B]`` the stall count of this step's joint observation (0 at an episode's first step)."""
        if self.obs is None:
            return np.zeros(len(self.calls_left), dtype=np.int64)
        return stall_counts(obs, self.obs, self.stall, np.zeros(len(self.calls_left), dtype=bool))


def stall_counts(
    obs: np.ndarray, previous: np.ndarray, stall: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """How many steps in a row the joint observation ``[B, ...]`` has stayed the same: ``stall + 1``
    where it equals ``previous`` (the last step's, whose count was ``stall``), 0 where it changed or
    where the episode has just begun (``first``)."""
    same = (
        np.asarray(obs).reshape(len(stall), -1) == np.asarray(previous).reshape(len(stall), -1)
    ).all(axis=1)
    return np.where(same & ~first, stall + 1, 0)


TIMERS = ("il_act", "cl_act", "il_update", "cl_update", "switcher", "env")
UNLIMITED = np.iinfo(np.int64).max // 2


class MANSALearner(Learner):
    """An IL learner, a CL learner and a :class:`Switcher` that decides per copy and step who acts."""

    needs_state = True
    act_needs_state = True

    def __init__(
        self, cfg: MANSAConfig, env: Any, device: str | torch.device = "cpu", seed: int = 0
    ):
        super().__init__(cfg, env, device, seed)
        b = env.num_envs
        self.length = cfg.rollout_length
        self.il = _side(get_algorithm(cfg.il)[1](cfg.il_config, env, device, seed))
        self.cl = _side(get_algorithm(cfg.cl)[1](cfg.cl_config, env, device, seed))
        if cfg.on_policy and cfg.policy_data == "all":
            self.il.other, self.cl.other = self.cl, self.il
        self.budget = cfg.budget
        state_dim = int(np.prod(env.state_space.shape))
        self.stall_input = cfg.switcher.stall_input
        self.switcher = Switcher(
            cfg.switcher,
            state_dim + int(self.budget is not None) + int(self.stall_input),
            b,
            self.length,
            self.device,
            self.seed,
        )
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

    # ------------------------------------------------------------------ budget
    def _calls_left(self) -> np.ndarray:
        """``[B]`` CL calls each copy may make now."""
        if self.budget is None:
            return np.full(self.env.num_envs, UNLIMITED, dtype=np.int64)
        if self.cfg.budget_scope == "run":
            return np.full(self.env.num_envs, self._run_calls_left, dtype=np.int64)
        return self.budget - self._episode_calls

    def _stall_now(self) -> np.ndarray:
        """``[B]`` the stall count of this step's joint observation (in training), from the last decision's."""
        return stall_counts(self._obs, self._last_obs, self._stall, self._step == 0)

    def _inputs(self, state: np.ndarray, calls_left: np.ndarray, stall: np.ndarray) -> torch.Tensor:
        """The switcher's inputs: the flattened state, the fraction of the budget left (with a budget)
        and ``min(stall, STALL_CAP) / STALL_CAP`` (with ``stall_input``)."""
        columns = [np.asarray(state, dtype=np.float32).reshape(len(calls_left), -1)]
        if self.budget is not None:
            fraction = calls_left / self.budget if self.budget > 0 else np.zeros(len(calls_left))
            columns.append(fraction.astype(np.float32)[:, None])
        if self.stall_input:
            columns.append((np.minimum(stall, STALL_CAP) / STALL_CAP).astype(np.float32)[:, None])
        return torch.as_tensor(np.concatenate(columns, axis=1)).to(self.device)

    def _decide(
        self,
        inputs: torch.Tensor,
        calls_left: np.ndarray,
        greedy: bool,
        shared: bool,
        generator: torch.Generator | None = None,
        explore: float = 0.0,
    ):
        """CL decisions ``[B]`` (bool, within the budget), the switcher's choices and their
        log-probs, and the unmasked CL probabilities. ``shared``: the copies draw on one pool of
        ``calls_left[0]`` calls (the run budget while training); the lowest indices go first."""
        allowed = torch.as_tensor(calls_left > 0).to(self.device)
        mode = self.cfg.switcher.mode
        if mode == "learned":
            choices, log_probs, p_cl = self.switcher.decide(
                inputs, allowed, greedy, generator, explore
            )
        else:
            choices = (
                allowed.long() if mode == "cl" else torch.zeros_like(allowed, dtype=torch.long)
            )
            log_probs, p_cl = torch.zeros(len(choices)), choices.float()
        cl = choices.cpu().numpy().astype(bool)
        if shared:
            cl &= np.cumsum(cl) <= calls_left[0]
        return cl, choices, log_probs, p_cl

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
        pick: Callable[[Any, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
        timed: bool,
    ) -> np.ndarray:
        actions = np.zeros((len(cl), self.env.num_agents), dtype=np.int64)
        for side, rows, timer in (
            (self.il, np.flatnonzero(~cl), "il_act"),
            (self.cl, np.flatnonzero(cl), "cl_act"),
        ):
            if rows.size:
                with self._timer(timer, timed):
                    actions[rows] = pick(side, obs[rows], mask[rows], state[rows])
        return actions

    @torch.no_grad()
    def _collect(self) -> dict[str, float]:
        env, b, sw, cost = self.env, self.env.num_envs, self.switcher, self.cfg.cost
        gamma, learned = self.cfg.switcher.gamma, self.cfg.switcher.mode == "learned"
        shared = self.budget is not None and self.cfg.budget_scope == "run"
        calls, p_sum, finished_calls, finished_left, call_steps = 0, 0.0, [], [], []
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
            actions = self._joint_actions(
                obs, mask, state, cl, lambda s, o, m, x: s.behaviour(o, m, x), timed=True
            )
            if self.call_recorder is not None:
                self.call_recorder(env, cl.copy(), self._step.copy())

            with self._timer("env"):
                next_obs, rewards, terminated, truncated, info = env.step(actions)
            for side, own, timer in ((self.il, ~cl, "il_update"), (self.cl, cl, "cl_update")):
                with self._timer(timer):
                    side.record(
                        t,
                        obs,
                        mask,
                        state,
                        actions,
                        own,
                        next_obs,
                        rewards,
                        terminated,
                        truncated,
                        info,
                    )

            # bookkeeping: calls, budget, where in the episode
            n_calls = int(cl.sum())
            calls += n_calls
            p_sum += float(p_cl.sum())
            self.cl_calls += n_calls
            self._episode_calls += cl
            if shared:
                self._run_calls_left -= n_calls
            np.add.at(self.cl_calls_by_step, np.minimum(self._step[cl], self.max_length - 1), 1)
            call_steps.extend(self._step[cl].tolist())
            self._step += 1
            self._last_obs, self._stall = self._obs, stall

            ended = info.get("_final", np.zeros(b, dtype=bool))
            if learned:  # the switcher's reward: team reward minus the cost of the calls granted
                with self._timer("switcher"):
                    team = rewards.sum(axis=1) if env.team_reward == "sum" else rewards.mean(axis=1)
                    sw_rewards = team.astype(np.float32) - cost * cl
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

    def train_iteration(self) -> dict[str, float]:
        metrics = self._collect()
        b = self.env.num_envs
        obs, state = self._obs.reshape(b, self.env.num_agents, -1), self.env.state().reshape(b, -1)
        for prefix, side, timer in (("il", self.il, "il_update"), ("cl", self.cl, "cl_update")):
            with self._timer(timer):
                try:
                    sub = side.update(self.length * b, obs, state)
                except NonFiniteLossError as error:  # say which learner's loss it was
                    raise NonFiniteLossError(
                        f"{prefix}/{error.loss}", error.update, error.value
                    ) from error
            for key, value in sub.items():
                group, _, rest = key.partition("/")
                metrics[f"{group}/{prefix}/{rest}"] = value
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
        return metrics

    # ------------------------------------------------------------------ acting
    def initial_memory(self, copies: int) -> SwitchMemory:
        """What an evaluation episode starts with: every copy's calls left, no call made yet."""
        left = (
            UNLIMITED
            if self.budget is None
            else (self._run_calls_left if self.cfg.budget_scope == "run" else self.budget)
        )
        return SwitchMemory(np.full(copies, left, dtype=np.int64), np.zeros(copies, dtype=bool))

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
        actions = self._joint_actions(
            np.asarray(obs).reshape(b, self.env.num_agents, -1),
            mask,
            flat_state,
            cl,
            lambda s, o, m, x: s.greedy(o, m, x, greedy),
            timed=False,
        )
        return actions, SwitchMemory(calls_left - cl, cl, np.array(obs, copy=True), stall)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "il": self.il.learner.state_dict(),
            "il_side": self.il.state_dict(),
            "cl": self.cl.learner.state_dict(),
            "cl_side": self.cl.state_dict(),
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

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env = state["env"]
        for side, key in ((self.il, "il"), (self.cl, "cl")):
            side.learner.load_state_dict(state[key])
            side.learner.env = self.env
            side.load_state_dict(state[f"{key}_side"])
        self.switcher.load_state_dict(state["switcher"])
        self._obs = state["obs"]
        self._step = np.array(state["step"], dtype=np.int64)
        self._episode_calls = np.array(state["episode_calls"], dtype=np.int64)
        self._run_calls_left = int(state["run_calls_left"])
        if "stall" in state:  # checkpoints from before stall_input have none (and no stall input)
            self._last_obs = state["last_obs"]
            self._stall = np.array(state["stall"], dtype=np.int64)
        self.cl_calls = int(state["cl_calls"])
        self.cl_calls_by_step = np.array(state["cl_calls_by_step"], dtype=np.int64)
        self.timers = dict(state["timers"])
        self.env_steps = int(state["env_steps"])
        self.updates = int(state["updates"])


register_algorithm("mansa", MANSAConfig, MANSALearner)
