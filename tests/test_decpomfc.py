"""Dec-POMFC: the kernel mean embedding, learning to flock on a small swarm, resume, refusals."""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
from toy_envs import one_torch_thread  # noqa: F401  (autouse fixture)

import envs
from algorithms import get_algorithm
from algorithms.config import build_config
from algorithms.decpomfc import KernelEmbedding
from algorithms.runs.evaluation import evaluate

SMALL = {"num_agents": 20, "box_size": 2.5, "max_episode_steps": 50}  # density 3.2
FAST = {"rollout_length": 25, "net": {"hidden_size": 32}}


def small_swarm(copies: int, **kwargs):
    return envs.make_vec("swarming-vicsek-v0", copies, **{**SMALL, **kwargs})


def make(env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm("decpomfc")
    return learner_cls(build_config(config_cls, FAST, overrides), env, "cpu", seed)


def test_the_embedding_is_the_mean_kernel_over_agents_at_every_centre():
    rng = np.random.default_rng(0)
    coords = rng.uniform(-math.pi, math.pi, size=(2, 5, 2))  # [B, N, K]
    embedding = KernelEmbedding((3, 4), bandwidth=0.7)
    out = embedding(coords)
    assert out.shape == (2, 12)
    expected = np.zeros((2, 12))
    for b in range(2):
        for p in range(3):
            for q in range(4):
                centre = (2 * math.pi * p / 3, 2 * math.pi * q / 4)
                for i in range(5):
                    k = 1.0
                    for d in range(2):
                        kappa = 1 / (0.7 * 2 * math.pi / (3, 4)[d]) ** 2
                        k *= math.exp(kappa * (math.cos(coords[b, i, d] - centre[d]) - 1))
                        k /= np.i0(kappa) * math.exp(-kappa)
                    expected[b, p * 4 + q] += k / 5
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_a_uniform_swarm_embeds_to_ones_and_an_aligned_one_does_not():
    embedding = KernelEmbedding((3, 3, 8), bandwidth=1.0)
    grid = np.linspace(-math.pi, math.pi, 24, endpoint=False)
    uniform = np.stack(np.meshgrid(grid, grid, grid), axis=-1).reshape(1, -1, 3)
    np.testing.assert_allclose(embedding(uniform), 1.0, atol=1e-4)
    aligned = uniform.copy()
    aligned[..., 2] = 0.0  # every heading at the first angle centre
    out = embedding(aligned).reshape(3, 3, 8)
    assert out[..., 0].min() > 2.0 and out[..., 0].min() > 20 * out[..., 4].max()


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    learner = make(small_swarm(8), seed=0)
    for _ in range(20):
        learner.train_iteration()
    return learner


def test_it_learns_to_flock_on_a_small_swarm_well_beyond_random_turns(trained):
    learned = evaluate(trained.act, small_swarm, episodes=8, seed=100)
    rng = np.random.default_rng(0)

    def random_turns(obs, mask, state, hidden):
        return rng.integers(0, 7, size=obs.shape[:2]), hidden

    random = evaluate(random_turns, small_swarm, episodes=8, seed=100)
    assert np.mean(random["order"]) < 0.35  # about 1 / sqrt(20) for disordered headings
    assert np.mean(learned["order"]) > np.mean(random["order"]) + 0.3
    assert np.mean(learned["mean_order"]) > np.mean(random["mean_order"]) + 0.2


def test_the_critic_values_an_ordered_swarm_above_a_disordered_one(trained):
    env = small_swarm(4)
    env.reset(seed=3)
    disordered = trained.critic_value(env)
    env.reset(seed=3, options={"headings": np.zeros(SMALL["num_agents"])})
    ordered = trained.critic_value(env)
    assert (ordered > disordered).all()


def test_the_exported_policy_runs_decentralised_on_a_larger_swarm(trained):
    policy = trained.policy()
    big = envs.make_vec("swarming-vicsek-v0", 2, num_agents=200, box_size=7.5)
    obs, _ = big.reset(seed=0)
    actions, _ = policy.act(obs, big.action_mask())
    assert actions.shape == (2, 200)
    alone, _ = policy.act(obs[:, :1], big.action_mask()[:, :1])  # one agent's obs suffices
    np.testing.assert_array_equal(alone, actions[:, :1])


def test_a_restored_learner_continues_bit_for_bit():
    learner = make(small_swarm(2), seed=4, rollout_length=10)
    learner.train_iteration()
    saved = pickle.loads(pickle.dumps(learner.state_dict()))
    first = [learner.train_iteration()["losses/policy_loss"] for _ in range(2)]
    other = make(small_swarm(2), seed=99, rollout_length=10)
    other.load_state_dict(copy.deepcopy(saved))
    second = [other.train_iteration()["losses/policy_loss"] for _ in range(2)]
    assert first == second
    for a, b in zip(learner.actor.parameters(), other.actor.parameters()):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(learner.global_state(), other.global_state())


def test_envs_without_agent_states_are_refused_naming_the_swarming_family():
    env = envs.make_vec("Foraging-8x8-2p-2f-coop-v3", 2)
    with pytest.raises(ValueError, match="needs the agents' states.*swarming-vicsek-v0.*ippo"):
        make(env)


@pytest.mark.parametrize(
    ("key", "value"), [("angle_centres", 0), ("bandwidth", 0.0), ("position_centres", -1)]
)
def test_bad_embedding_settings_are_refused_naming_the_key(key, value):
    with pytest.raises(ValueError, match=f"algo.{key}"):
        build_config(get_algorithm("decpomfc")[0], {key: value})


def test_positions_can_be_left_out_of_the_embedding():
    learner = make(small_swarm(2), position_centres=0, angle_centres=6)
    assert learner.global_state().shape == (2, 6)
    learner.train_iteration()
