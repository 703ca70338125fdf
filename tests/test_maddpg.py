"""MADDPG on tiny envs: flags, masks, continuous actions, the exported policy, resume, refusal, learning."""

import pickle

import numpy as np
import pytest
import torch
from toy_envs import CoordinationCore, ReachCore, one_torch_thread  # noqa: F401  (autouse fixture)

import envs
from agents.distributions import MaskedCategorical
from agents.policy import Policy
from algorithms import ALGORITHMS, get_algorithm
from algorithms.config import build_config
from algorithms.runs.evaluation import evaluate

FAST = {
    "batch_size": 4,
    "buffer_size": 50,
    "rollout_length": 8,
    "env_steps_per_update": 8,
    "net": {"hidden_size": 16},
}
VARIANTS = {
    "shared": {},
    "separate": {"net": {"share_parameters": False}},
    "recurrent": {"net": {"recurrent": True}},
    "team": {"team_reward": True, "scale_rewards": False},
}


def make(env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm("maddpg")
    return learner_cls(build_config(config_cls, FAST, overrides), env, "cpu", seed)


def swarm(num_envs):
    return envs.make_vec(
        "swarming-vicsek-v0", num_envs, num_agents=4, actions="continuous", max_episode_steps=12
    )


def test_registry_flags_and_defaults():
    config_cls, learner_cls = ALGORITHMS["maddpg"]
    assert learner_cls.supports_discrete and learner_cls.supports_continuous
    assert not learner_cls.on_policy and learner_cls.needs_state
    cfg = config_cls()
    assert (cfg.lr, cfg.batch_size, cfg.reg, cfg.net.hidden_size) == (5e-4, 32, 1e-3, 128)
    with pytest.raises(ValueError, match=r"algo.tau must lie in \(0, 1\]"):
        build_config(config_cls, {"tau": 0.0})


def test_straight_through_gumbel_softmax_is_one_hot_valid_and_passes_gradients():
    logits = torch.randn(64, 5, requires_grad=True)
    mask = torch.ones(64, 5, dtype=torch.bool)
    mask[:, 1] = False
    dist = MaskedCategorical(logits, mask)
    sample = dist.gumbel_softmax(torch.Generator().manual_seed(3))
    drawn = dist.sample(torch.Generator().manual_seed(3))  # the same noise, the same action
    assert torch.equal(sample.detach().argmax(-1), drawn) and (drawn != 1).all()
    torch.testing.assert_close(sample.detach().sum(-1), torch.ones(64))
    (sample * torch.arange(5.0)).sum().backward()
    assert logits.grad.abs().sum() > 0 and (logits.grad[:, 1] == 0).all()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_smoke_on_a_masked_discrete_env_never_plays_a_masked_action(variant):
    env = CoordinationCore(4, num_agents=3, masked=True, terminate_on_success=True)  # raises on one
    learner = make(env, **VARIANTS[variant])
    for _ in range(4):
        metrics = learner.train_iteration()
    assert learner.env_steps == 4 * 8 * 4 and learner.updates == 4 and learner.gradient_updates > 0
    losses = {"losses/critic_loss", "losses/actor_loss", "losses/q_taken", "losses/target"}
    assert losses <= set(metrics) and all(np.isfinite(metrics[k]) for k in losses)
    assert len(learner.episodes.drain()["return"]) > 0
    for greedy in (True, False):
        actions, _ = learner.act(env._observe(), env.action_mask(), env.state(), greedy=greedy)
        assert actions.shape == (4, 3) and (actions != 2).all()


def test_smoke_on_swarming_with_continuous_actions_and_the_exported_policy():
    env = swarm(2)
    learner = make(env)
    for _ in range(4):
        metrics = learner.train_iteration()
    assert np.isfinite(metrics["losses/actor_loss"]) and learner.gradient_updates > 0
    obs, _ = swarm(3).reset(seed=7)
    actions, _ = learner.act(obs, None, None)
    assert actions.shape == (3, 4, 1) and np.abs(actions).max() <= env.max_turn + 1e-6
    explore, _ = learner.act(obs, None, None, greedy=False)
    assert not np.array_equal(explore, actions) and np.abs(explore).max() <= env.max_turn + 1e-6
    policy = learner.policy()
    assert isinstance(policy, Policy)
    assert np.array_equal(policy.act(obs)[0], actions)  # greedy = the deterministic action


def test_the_critic_can_see_every_observation_instead_of_the_state():
    """Lowe et al.'s critic input: swarming's state is a heading histogram that does not say
    which agent is where; with ``critic_state=False`` the critic reads all observations."""
    with_state, with_obs = make(swarm(2)), make(swarm(2), critic_state=False)
    obs_dim = int(np.prod(swarm(1).observation_space.shape))
    assert with_state.central.uses_state and "state" in with_state.replay.fields
    assert not with_obs.central.uses_state and "state" not in with_obs.replay.fields
    assert with_obs.central.dim == 4 * obs_dim
    for _ in range(4):
        metrics = with_obs.train_iteration()
    assert np.isfinite(metrics["losses/critic_loss"]) and with_obs.gradient_updates > 0


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_a_resumed_learner_continues_bit_for_bit(kind):
    def build():
        env = CoordinationCore(3, masked=True, length=4) if kind == "discrete" else swarm(2)
        return make(env, seed=1)

    straight, interrupted = build(), build()
    for _ in range(3):
        straight.train_iteration()
        interrupted.train_iteration()
    resumed = build()
    resumed.load_state_dict(pickle.loads(pickle.dumps(interrupted.state_dict())))
    del interrupted
    for _ in range(3):
        a, b = straight.train_iteration(), resumed.train_iteration()
        assert a == b
    sa, sb = straight.state_dict(), resumed.state_dict()
    for part in ("actor", "critic", "target_actor", "target_critic"):
        for key in sa[part]:
            assert torch.equal(sa[part][key], sb[part][key]), (part, key)
    assert torch.equal(sa["generator"], sb["generator"]) and np.array_equal(sa["obs"], sb["obs"])


def test_an_env_with_too_large_a_joint_action_is_refused_by_the_capability_flag():
    with pytest.raises(ValueError, match="joint action of all 40 agents .*40 x 8 = 320 inputs"):
        make(CoordinationCore(1, num_agents=40, num_actions=8))


def test_maddpg_learns_the_masked_coordination_game():
    def game(b):
        return CoordinationCore(b, num_actions=4, length=5, masked=True)

    learner = make(
        game(16),
        batch_size=16,
        buffer_size=500,
        rollout_length=10,
        env_steps_per_update=16,
        lr=3e-3,
        tau=0.05,
        net={"hidden_size": 32},
    )
    for _ in range(30):
        learner.train_iteration()
    greedy = evaluate(learner.act, game, 32, seed=99)
    # random valid play earns 2 * (1/3)^2 = 0.22 per episode; the optimum is 2.0
    assert np.mean(greedy["return"]) > 1.0


def test_maddpg_learns_continuous_actions():
    learner = make(  # no input LayerNorm: it would erase the length of a 2-D target
        ReachCore(16),
        batch_size=16,
        buffer_size=500,
        rollout_length=10,
        env_steps_per_update=16,
        lr=3e-3,
        net={"hidden_size": 32, "feature_norm": False},
    )
    rng = np.random.default_rng(0)
    random = evaluate(
        lambda obs, *_: (rng.uniform(-1, 1, size=(*obs.shape[:2], 2)), None), ReachCore, 16, 5
    )
    for _ in range(25):
        learner.train_iteration()
    after = evaluate(learner.act, ReachCore, 16, seed=5)
    # uniform random actions lose about 1.7 per episode; the untrained (zero) actor about 0.35
    assert np.mean(after["return"]) > 0.1 * np.mean(random["return"])
    assert np.mean(after["return"]) > -0.15
