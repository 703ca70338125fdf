"""Seeded discriminators and time-blind observations in the donor game.

``seeded_discriminators=k`` makes the last k seats of the population scripted discriminators
(Anastassacos et al. 2021's seeding); the agents are the other N - k. ``observe_round`` and
``observe_resources`` take the clock and the own-resources entry out of the observation.
"""

import numpy as np
import pytest
from pettingzoo_checks import check_pettingzoo_api

import envs
from envs.donor import AlwaysCooperate, AlwaysDefect, DonorCore, Mixture


def play(core, actions_of, rounds):
    obs, _ = core.reset(seed=3)
    info = {}
    for _ in range(rounds):
        obs, reward, term, trunc, info = core.step(actions_of(obs))
    return obs, reward, term, trunc, info


def test_seeded_seats_are_not_agents_and_act_as_discriminators():
    core = envs.make_vec(
        "donor-stern-judging-v0",
        num_envs=3,
        seeded_discriminators=4,
        execution_error=0.0,
        assessment_error=0.0,
        num_rounds=6,
    )
    assert core.num_agents == 8 and core.population == 12
    assert core.possible_agents == [f"agent_{i}" for i in range(8)]
    obs, _ = core.reset(seed=0)
    assert obs.shape == (3, 8, core.observation_space.shape[0])
    assert core.state().shape == (3, 4 * 12 + 1)
    # the agents defect in round 1: against good recipients they turn bad under stern judging
    obs, reward, term, trunc, info = core.step(np.zeros((3, 8), dtype=np.int64))
    assert reward.shape == term.shape == trunc.shape == (3, 8)
    assert info["donated"].shape == (3, 12)
    np.testing.assert_array_equal(info["donated"][:, 8:], 1.0)  # everyone was good: seeds give
    assert not core.good[:, :8].any() and core.good[:, 8:].all()
    # round 2: a seed gives everything to a good recipient and nothing to a bad one
    recipients = core.recipients
    obs, reward, term, trunc, info = core.step(np.zeros((3, 8), dtype=np.int64))
    expected = np.where(recipients[:, 8:] >= 8, 1.0, 0.0)
    np.testing.assert_array_equal(info["donated"][:, 8:], expected)


def test_episode_metrics_describe_the_agents_not_the_seeds():
    core = envs.make_vec(
        "donor-v0", num_envs=2, seeded_discriminators=6, execution_error=0.0, num_rounds=4
    )
    *_, info = play(core, AlwaysDefect(core), 4)
    episode = info["episode"]
    np.testing.assert_array_equal(episode["cooperation_rate"], 0.0)  # the seeds did give
    np.testing.assert_array_equal(episode["donated_fraction"], 0.0)
    assert episode["agent_return"].shape == (2, 6)
    final = 10.0 + episode["agent_return"].mean(axis=1)  # the agents' resources, not the seeds'
    np.testing.assert_allclose(episode["final_resources"], final)
    assert (episode["final_resources"] > 10.0).all()  # the seeds gave to the good agents


def test_no_seeds_is_the_plain_game_bit_for_bit():
    plain = envs.make_vec("donor-stern-judging-v0", num_envs=2)
    seeded = envs.make_vec("donor-stern-judging-v0", num_envs=2, seeded_discriminators=0)
    policy = Mixture([AlwaysCooperate(plain)] * 6 + [AlwaysDefect(plain)] * 6)
    a = play(plain, policy, 12)
    b = play(seeded, policy, 12)
    for x, y in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(x, y)


def test_time_blind_observation_drops_the_round_and_own_resources():
    core = envs.make_vec("donor-stern-judging-v0", observe_round=False, observe_resources=False)
    obs, _ = core.reset(seed=0)
    assert set(core.obs_slices) == {"reputation", "trace"} and obs.shape == (1, 12, 7)
    core = envs.make_vec(
        "donor-v0",
        observe_reputation=False,
        trace_length=0,
        observe_round=False,
        observe_resources=False,
    )
    obs, _ = core.reset(seed=0)
    assert set(core.obs_slices) == {"constant"}  # nothing observed: one constant input
    np.testing.assert_array_equal(obs, 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seeded_discriminators": 4, "observe_round": False, "observe_resources": False},
        {"seeded_discriminators": 2, "generation_length": 4, "num_rounds": 12, "num_agents": 6},
    ],
)
def test_seeded_and_time_blind_variants_pass_the_pettingzoo_checks(kwargs, monkeypatch):
    monkeypatch.setitem(DonorCore.metadata, "render_fps", 1000)
    check_pettingzoo_api("donor-stern-judging-v0", num_cycles=30, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seeded_discriminators": 12}, r"seeded_discriminators.*<= 11, got 12"),
        ({"seeded_discriminators": -1}, r"seeded_discriminators.*>= 0"),
        ({"seeded_discriminators": 1.5}, r"seeded_discriminators.*integer"),
    ],
)
def test_bad_seed_counts_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        envs.make_vec("donor-v0", **kwargs)
