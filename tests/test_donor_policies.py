"""Scripted reference policies: what they choose, and the classic outcomes they produce."""

import numpy as np
import pytest

import envs
from envs.donor import (
    AlwaysCooperate,
    AlwaysDefect,
    Discriminator,
    Mixture,
    RandomPolicy,
    TraceReciprocator,
)


def run(core, policy, episodes=1, seed=0):
    """Mean episode stats over the copies and episodes (auto-reset keeps going)."""
    obs, _ = core.reset(seed=seed)
    finished = []
    while len(finished) < episodes:
        obs, _, _, truncated, info = core.step(policy(obs))
        if truncated.all():
            finished.append(info["episode"])
    return {k: np.mean([f[k] for f in finished], axis=0) for k in finished[0]}


def test_discriminators_sustain_cooperation_under_stern_judging_despite_errors():
    core = envs.make_vec("donor-stern-judging-v0", num_envs=16, num_rounds=30)
    stats = run(core, Discriminator(core))
    assert stats["cooperation_rate"].mean() > 0.9
    assert stats["good_reputation_share"].mean() > 0.9


def play_recording(core, policy, seed=0):
    """One episode (no auto-reset reached): rewards and infos per round, reputations after each."""
    obs, _ = core.reset(seed=seed)
    rounds = []
    for _ in range(core.num_rounds - 1):
        obs, rewards, _, _, info = core.step(policy(obs))
        rounds.append((rewards, info, core.reputation))
    return rounds


def test_under_image_scoring_defectors_gain_only_in_the_first_round():
    core = envs.make_vec("donor-v0", num_envs=16, execution_error=0.0, assessment_error=0.0)
    rounds = play_recording(core, Mixture([Discriminator(core)] * 8 + [AlwaysDefect(core)] * 4))
    first_rewards, first_info, _ = rounds[0]
    from_discriminator = first_info["recipients"][:, :8]  # who the discriminators gave 1.0 of 10 to
    for b in range(16):
        expected = np.zeros(12)
        expected[from_discriminator[b]] = 20.0
        np.testing.assert_array_equal(first_rewards[b, 8:], expected[8:])
    for rewards, _, reputation in rounds[1:]:
        np.testing.assert_array_equal(rewards[:, 8:], 0.0)  # nobody gives to a negative score
        assert np.all(reputation[:, 8:] < 0)


def test_discriminators_keep_good_standing_under_stern_judging_without_errors():
    core = envs.make_vec(
        "donor-stern-judging-v0", num_envs=16, execution_error=0.0, assessment_error=0.0
    )
    rounds = play_recording(core, Mixture([Discriminator(core)] * 8 + [AlwaysDefect(core)] * 4))
    for _, _, reputation in rounds:
        np.testing.assert_array_equal(reputation[:, :8], 1)
    assert np.all(rounds[0][2][:, 8:] == 0)  # defecting against the good makes one bad


def test_defectors_never_lose_and_out_earn_cooperators_on_average():
    core = envs.make_vec("donor-v0", num_envs=64, observe_reputation=False, trace_length=0)
    rounds = play_recording(core, Mixture([AlwaysCooperate(core)] * 8 + [AlwaysDefect(core)] * 4))
    rewards = np.stack([r for r, _, _ in rounds])  # [T, B, N]
    assert np.all(rewards[:, :, 8:] >= 0)
    returns = rewards.sum(axis=0)
    assert returns[:, 8:].mean() > returns[:, :8].mean()


def test_discriminator_choices_follow_the_observed_reputation():
    core = envs.make_vec("donor-punish-v0", num_agents=4, norm="stern_judging")
    obs, _ = core.reset(seed=0, options={"reputation": [1, 0, 1, 0], "recipients": [1, 2, 3, 0]})
    np.testing.assert_array_equal(Discriminator(core)(obs)[0], [0, 4, 0, 4])
    np.testing.assert_array_equal(Discriminator(core, punish_bad=True)(obs)[0], [5, 4, 5, 4])
    scoring = envs.make_vec("donor-v0", num_agents=4)
    obs, _ = scoring.reset(
        seed=0, options={"reputation": [0, -1, 3, -5], "recipients": [1, 2, 3, 0]}
    )
    np.testing.assert_array_equal(Discriminator(scoring)(obs)[0], [0, 4, 0, 4])


def test_trace_reciprocator_returns_the_recipients_last_donation():
    core = envs.make_vec("donor-v0", num_agents=6, execution_error=0.0)
    obs, _ = core.reset(seed=0)
    reciprocator = TraceReciprocator(core)
    np.testing.assert_array_equal(reciprocator(obs), 4)  # no history: cooperate fully
    levels = np.array([[0, 1, 2, 3, 4, 2]])
    obs, *_ = core.step(levels)
    np.testing.assert_array_equal(reciprocator(obs), np.take_along_axis(levels, core.recipients, 1))


def test_policies_act_on_a_single_agents_observation():
    env = envs.make("donor-stern-judging-v0", num_agents=4)
    obs, _ = env.reset(seed=0)
    for policy in (
        AlwaysCooperate(env),
        AlwaysDefect(env),
        Discriminator(env),
        TraceReciprocator(env),
    ):
        actions = {agent: int(policy(o)) for agent, o in obs.items()}
        assert all(env.action_space(a).contains(v) for a, v in actions.items())
    env.step(actions)


def test_random_policy_is_seeded_and_in_range():
    core = envs.make_vec("donor-punish-v0", num_envs=3)
    obs, _ = core.reset(seed=0)
    a, b = RandomPolicy(core, seed=1)(obs), RandomPolicy(core, seed=1)(obs)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 12) and a.min() >= 0 and a.max() <= 5


def test_policies_refuse_envs_that_hide_what_they_read():
    with pytest.raises(ValueError, match="observe_reputation=True"):
        Discriminator(envs.make_vec("donor-v0", observe_reputation=False))
    with pytest.raises(ValueError, match="punishment=True"):
        Discriminator(envs.make_vec("donor-v0"), punish_bad=True)
    with pytest.raises(ValueError, match="trace_length >= 1"):
        TraceReciprocator(envs.make_vec("donor-v0", trace_length=0))
