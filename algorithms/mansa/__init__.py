"""MANSA (Mguni et al. 2023, "Learning Fast and Slow in Multi-Agent Systems"): learn when to call CL.

A switcher agent observes the global state (plus the fraction of the CL budget left, with a
budget, and how long the joint observation has stalled) and decides, per env copy and step, who
picks that step's joint action: the independent learner (IL: IQL or IPPO, each agent on its own
observation) or the centralised learner (CL: QMIX, VDN or MAPPO). A CL step is one CL call. The
switcher's reward is the team reward minus ``cost`` per call; once the budget is spent, CL is
masked and only IL can act.

| pairing | IL | CL | what the CL step runs | how both learn |
|---|---|---|---|---|
| value-based (the paper's, the default) | ``iql`` | ``qmix`` (or ``vdn``) | QMIX's epsilon-greedy agent Qs | both replay every step |
| on-policy | ``ippo`` | ``mappo`` | MAPPO's actor | each on its own steps |

``algo=mansa algo.il_cfg.lr=1e-3 algo.cl_cfg.mixing_embed_dim=64``: the sub-learners' settings
are overrides of their own config dataclasses (:func:`algorithms.config.build_config`).

``algo.switch`` says what a call switches (the paper reads both ways):

- ``act`` (the default, described above): CL's agents pick the called step's joint action. With
  ``transfer_weight > 0`` IL also clones CL's actions on those steps (:mod:`.transfer`).
- ``learn``: IL's agents act on every step; a called transition is learned with CL's centralised
  rule: the mixer's TD loss over the same agent Qs (:mod:`.learn_value`), or the central critic's
  advantage and value target for IPPO's actor (:mod:`.learn_policy`). A call is then a
  centralised update, and the switcher, whose choice pays off only through later updates, is
  paid at once by a proxy: how far the two rules' learning signals at that transition disagree
  (TD errors, or advantages), over its running std, minus ``cost`` per call.

The paper published no code; the choices it leaves open, made here:

- **Switcher** (:mod:`~algorithms.mansa.switcher`): PPO with a two-way policy, run by the PPO core's
  update. ``switcher.explore`` draws that share of training decisions uniformly, so a switcher
  whose CL probability has collapsed still tries CL (and its CL gets steps of its own).
  ``switcher.stall_input`` shows where a feed-forward IL's greedy play has frozen (repeated
  observations), which a switcher seeing one state cannot tell from an ordinary step.
  ``switcher.mode=il`` / ``cl`` / ``random`` fixes the decision instead, through the same code
  (``random``: CL at random states at ``switcher.rate``, the control at a matched call rate;
  ``hindsight``, on-policy ``switch=learn`` only: after each rollout the central rule takes the
  ``rate`` share of steps where the switcher's signal is largest, :mod:`.learn_calls`).
- **Budget**: ``budget`` calls per episode of each copy (``budget_scope=episode``) or for the run
  over all copies (``run``; the lowest copy indices go first). Only granted calls are charged.
- **Value CL targets** are in-sample (``cl_bootstrap=taken``) with ``switch=act``: fed mostly by
  IQL's steps, QMIX with Q-learning targets diverges (the extrapolation error of off-policy
  bootstrapping, Fujimoto et al. 2019); in-sample targets never reach for a joint action the data
  lacks. With ``switch=learn`` the one learner acts everywhere, so its targets are Q-learning's.
- **Evaluation** (``act``) samples the switcher as in training (without ``explore``) and takes
  each learner's greedy action; ``switcher_greedy=True`` takes the switcher's likelier choice.
- Both sub-learners are seeded with the run's seed, so a switcher that always picks one of them
  reproduces that learner alone bit for bit (tested).
- **Recurrent sub-learners** (``algo.il_cfg.net.recurrent=true``, and/or CL's): value pairing,
  ``switch=act`` only. Each GRU advances on every step of every copy, whoever acts, so that its
  state always follows the episode (training: the learner's own state, reset as episodes end;
  evaluation: the memory carries both). Continuous actions are not supported.

What was measured, and what was tried and dropped: docs/experiments/mansa.md.

Logged (``mansa/*``): the CL fraction of this iteration's steps and of the run, calls used and
left, calls per finished episode, the switcher's mean CL probability, the mean episode step of
the calls, and the wall-clock seconds of IL and CL acting and updating. ``cl_calls_by_step``
counts calls per episode step; ``call_recorder(env, cl [B], step [B])`` (if set) is called
before every env step, so plots can show where CL was called (benchmarks/mansa.py).
"""

from algorithms.mansa.config import MANSAConfig, SwitcherConfig
from algorithms.mansa.learner import MANSALearner
from algorithms.mansa.switcher import STALL_CAP, Switcher, SwitchMemory, stall_counts
from algorithms.registry import register_algorithm

register_algorithm("mansa", MANSAConfig, MANSALearner)

__all__ = [
    "STALL_CAP",
    "MANSAConfig",
    "MANSALearner",
    "SwitchMemory",
    "Switcher",
    "SwitcherConfig",
    "stall_counts",
]
