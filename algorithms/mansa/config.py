"""MANSA's configuration: the switcher's PPO settings and the pairing, budget and cost.

The defaults are the settings that meet DESIGN 3's target on Foraging-8x8-2p-2f-coop with the
value pairing (measured in the study the package docstring links): 2 CL calls per episode at a
cost of 0.03 each, a switcher that explores 2% of its decisions and sees how long the
observations have stalled, and in-sample TD targets for the CL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agents.networks import NetConfig
from algorithms.base import AlgoConfig
from algorithms.config import build_config, check_ranges
from algorithms.registry import get_algorithm
from algorithms.value_config import BOOTSTRAPS
from envs.hints import closest_hint

#: learners allowed on each side, by family
IL_LEARNERS = {"iql": "value", "ippo": "policy"}
CL_LEARNERS = {"qmix": "value", "vdn": "value", "mappo": "policy"}
BUDGET_SCOPES = ("episode", "run")
#: what the switcher switches: who acts (``act``) or which learning rule a transition gets (``learn``)
SWITCHES = ("act", "learn")
#: the CL learners with a centralised learning rule that ``switch=learn`` can apply to IL's agents
LEARN_RULES = {
    "qmix": "the mixer's TD loss",
    "vdn": "the sum's TD loss",
    "mappo": "the central critic",
}
SWITCHER_MODES = ("learned", "il", "cl", "random", "hindsight")
#: who plays the steps the switcher calls CL for (switch=act): CL's agents, or a stand-in (the
#: controls for ``transfer_weight``): uniformly random valid actions, or IL's own greedy actions
DEMONSTRATORS = ("cl", "uniform", "il")


@dataclass
class SwitcherConfig:
    """The switcher: PPO on a two-way (IL, CL) policy over the global state."""

    mode: str = "learned"
    """learned (PPO), or fixed: il (never call CL), cl (call CL whenever the budget allows), random
    (call CL with probability ``rate`` where the budget allows: the control at a matched rate),
    hindsight (``switch=learn``, on-policy pairing, no budget: after each rollout the central rule
    takes the ``rate`` share of its steps where the two critics' advantages disagree most, the
    learned switcher's own signal read in hindsight: what picking by that signal can give)."""
    rate: float = 0.05
    """mode=random: the probability of a call per copy and step; mode=hindsight: the share of each
    rollout's steps called."""
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
    net: NetConfig = field(
        default_factory=lambda: NetConfig(activation="tanh", feature_norm=True, agent_id=False)
    )
    """Actor and critic architecture (one agent, feed-forward)."""
    init_cl_prob: float = 0.5
    """CL probability of the initial policy (set through the output bias)."""
    explore: float = 0.02
    """In training only: the share of decisions (where CL is allowed) drawn uniformly between IL and
    CL instead of from the policy, so a switcher whose CL probability has collapsed still tries CL
    (at least explore / 2 of those steps). PPO's old log-probabilities are then the mixture's."""
    stall_input: bool = True
    """Also observe how many steps in a row the agents' joint observation has stayed the same (0 at
    an episode's first step, saturating at ``STALL_CAP``, scaled to [0, 1]). The state does not show
    that play has frozen: a feed-forward IL played greedily can repeat the same observations and
    actions to the time limit (and LBF's state carries the time, so it never repeats)."""

    def check(self, prefix: str) -> None:
        """Refuse out-of-range values, naming the key as ``<prefix>.<field>``."""
        if self.mode not in SWITCHER_MODES:
            raise ValueError(
                f"{prefix}.mode must be one of {list(SWITCHER_MODES)}, got {self.mode!r}"
            )
        check_ranges(
            self,
            prefix,
            positive=("lr", "epochs", "minibatches", "clip_coef", "max_grad_norm"),
            unit=("gamma", "gae_lambda", "rate", "explore"),
            non_negative=("ent_coef", "vf_coef"),
        )
        self.net.check(f"{prefix}.net")
        if self.net.recurrent:
            raise ValueError(f"{prefix}.net.recurrent=true is not supported (one decision a step)")
        if not 0.0 < self.init_cl_prob < 1.0:
            raise ValueError(f"{prefix}.init_cl_prob must lie in (0, 1), got {self.init_cl_prob}")


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
    """Overrides of the CL learner's config (e.g. ``algo.cl_cfg.mixing_embed_dim=64``)."""
    cl_bootstrap: str | None = None
    """Value pairing: the CL's TD target (its ``bootstrap``): taken (in-sample: the joint action
    taken next) or greedy (Q-learning, which diverges when QMIX or VDN learns mostly from IQL's
    steps). None: taken with switch=act; greedy with switch=learn, where the one learner acts on
    every step and learns from its own behaviour. Ignored by the on-policy pairing."""
    cost: float = 0.03
    """Cost charged to the switcher's reward per CL call, in the env's reward units."""
    budget: int | None = 2
    """CL calls allowed per budget_scope (None: unlimited; 0: IL only)."""
    budget_scope: str = "episode"
    """What the budget covers: episode (each episode of each env copy) or run (all copies, whole run)."""
    rollout_length: int = 10
    """Steps collected from every env copy per iteration: the switcher's PPO rollout, and that of
    on-policy sub-learners (value-based ones update every env_steps_per_update steps regardless)."""
    switcher: SwitcherConfig = field(default_factory=SwitcherConfig)
    """The switcher agent."""
    switch: str = "act"
    """What a CL call switches: act (CL's agents pick that step's joint action) or learn (IL's
    agents always act; a called transition is learned with CL's centralised rule: the mixer's TD
    loss over the same agent Qs, or the central critic's advantage). With learn the switcher is
    rewarded by how much the centralised rule would change the update, minus ``cost`` per call
    (in units of that signal's running std); see :mod:`algorithms.mansa`."""
    transfer_weight: float = 0.0
    """switch=act only: weight of a behaviour-cloning term that teaches IL CL's actions on the
    steps CL acted (value pairing: DQfD's large-margin loss; on-policy: CL's action's
    log-likelihood under IL's actor). 0: off."""
    demonstrator: str = "cl"
    """switch=act only: who plays the called steps, in training and evaluation: cl (CL's agents),
    or a stand-in while CL still learns from every step as usual: uniform (uniformly random valid
    actions) or il (IL's own greedy actions). The stand-ins are controls: with
    ``transfer_weight > 0`` they ask whether IL gains from CL's actions, or from any demonstration
    (uniform), or from the margin term alone, which on IL's own choices adds no information (il)."""

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
        if self.cl_bootstrap is not None and self.cl_bootstrap not in BOOTSTRAPS:
            raise ValueError(
                f"algo.cl_bootstrap must be one of {list(BOOTSTRAPS)}, got {self.cl_bootstrap!r}"
            )
        if not (self.cost >= 0 and math.isfinite(self.cost)):
            raise ValueError(f"algo.cost must be a finite number >= 0, got {self.cost}")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"algo.budget must be >= 0 or None (unlimited), got {self.budget}")
        if self.budget_scope not in BUDGET_SCOPES:
            raise ValueError(
                f"algo.budget_scope must be one of {list(BUDGET_SCOPES)}, got {self.budget_scope!r}"
            )
        if self.rollout_length < 1:
            raise ValueError(f"algo.rollout_length must be at least 1, got {self.rollout_length}")
        self.switcher.check("algo.switcher")
        self._check_switch()
        # build the sub-learners' configs now, so that a bad key is refused before training
        for key, sub in (("il_cfg", self.il_config), ("cl_cfg", self.cl_config)):
            if sub.net.recurrent and (self.on_policy or self.learn or self.demonstrator != "cl"):
                raise ValueError(
                    f"algo.{key}.net.recurrent=true needs the value pairing (algo.il=iql) with "
                    "algo.switch=act and algo.demonstrator=cl; got "
                    f"il={self.il}, switch={self.switch}, demonstrator={self.demonstrator}"
                )

    def _check_switch(self) -> None:
        if self.switch not in SWITCHES:
            raise ValueError(
                f"algo.switch must be one of {list(SWITCHES)}, got {self.switch!r}"
                + closest_hint(str(self.switch), SWITCHES, "choices")
            )
        if not (self.transfer_weight >= 0 and math.isfinite(self.transfer_weight)):
            raise ValueError(
                f"algo.transfer_weight must be a finite number >= 0, got {self.transfer_weight}"
            )
        if self.demonstrator not in DEMONSTRATORS:
            raise ValueError(
                f"algo.demonstrator must be one of {list(DEMONSTRATORS)}, got {self.demonstrator!r}"
                + closest_hint(str(self.demonstrator), DEMONSTRATORS, "choices")
            )
        if self.switcher.mode == "hindsight" and not (
            self.learn and self.on_policy and self.budget is None
        ):
            raise ValueError(
                "algo.switcher.mode=hindsight picks the called steps after each rollout, so it "
                "needs algo.switch=learn, the on-policy pairing (algo.il=ippo algo.cl=mappo) and "
                f"algo.budget=null (its rate is the share called); got switch={self.switch}, "
                f"il={self.il}, budget={self.budget}"
            )
        if self.switch != "learn":
            return
        if self.cl not in LEARN_RULES:
            raise ValueError(
                f"algo.switch=learn needs a CL with a centralised learning rule "
                f"({', '.join(sorted(LEARN_RULES))}), got algo.cl={self.cl}"
            )
        if self.transfer_weight > 0:
            raise ValueError(
                "algo.transfer_weight applies to switch=act only (with switch=learn IL's agents "
                "act on every step: there is no CL action to learn from); set it to 0"
            )
        if self.demonstrator != "cl":
            raise ValueError(
                "algo.demonstrator applies to switch=act only (with switch=learn IL's agents act "
                "on every step); set it to cl"
            )
        if not self.on_policy and self.il_cfg:
            raise ValueError(
                "algo.il_cfg has no effect with switch=learn in the value pairing: one learner "
                "(CL's class, with the independent rule on uncalled steps) takes algo.cl_cfg"
            )

    @property
    def learn(self) -> bool:
        """True with ``switch=learn``."""
        return self.switch == "learn"

    @property
    def cl_targets(self) -> str:
        """The value CL's ``bootstrap``: ``cl_bootstrap``, or the switch mode's default."""
        if self.cl_bootstrap is not None:
            return self.cl_bootstrap
        return "greedy" if self.learn else "taken"

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
        """The CL learner's resolved config (its defaults, MANSA's ``cl_bootstrap``, ``cl_cfg``)."""
        return self._resolved(self.cl, self.cl_cfg, "cl_cfg")

    def _resolved(self, name: str, overrides: dict[str, Any], key: str) -> AlgoConfig:
        if "name" in overrides:
            raise ValueError(
                f"algo.{key}.name cannot be set; choose the learner with algo.{key[:2]}"
            )
        layers: list[dict[str, Any]] = [overrides]
        if self.on_policy:  # both PPO learners fill rollouts of T steps in lock step
            t = self.rollout_length
            if "rollout_length" in overrides and overrides["rollout_length"] != t:
                raise ValueError(
                    f"algo.{key}.rollout_length={overrides['rollout_length']} differs from the "
                    f"shared rollout of {t} steps; set algo.rollout_length instead"
                )
            layers.append({"rollout_length": t})
        elif key == "cl_cfg":
            if "bootstrap" in overrides:
                raise ValueError(
                    "algo.cl_cfg.bootstrap cannot be set; MANSA sets its CL's targets with "
                    "algo.cl_bootstrap"
                )
            layers.append({"bootstrap": self.cl_targets})
        return build_config(get_algorithm(name)[0], *layers, prefix=f"algo.{key}")
