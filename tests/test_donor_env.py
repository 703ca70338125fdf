"""The donor-game env as a whole: PettingZoo API, seeding, parameters, observations,
metrics, generations and rendering."""

import numpy as np
import pettingzoo
import pytest
from pettingzoo_checks import check_pettingzoo_api

import envs
from algorithms.iql import IQLConfig, IQLLearner
from envs.donor import AlwaysCooperate, AlwaysDefect, DonorCore, Mixture

IDS = [
    "donor-v0",
    "donor-simple-standing-v0",
    "donor-stern-judging-v0",
    "donor-shunning-v0",
    "donor-punish-v0",
    "donor-generations-v0",
]


@pytest.fixture
def fast_human_rendering(monkeypatch):
    """Human-mode frames wait 1 / render_fps; the API checks need no real frame rate."""
    monkeypatch.setitem(DonorCore.metadata, "render_fps", 1000)


# ---------------------------------------------------------------------------- API
@pytest.mark.parametrize("env_id", IDS)
def test_registered_ids_pass_the_pettingzoo_checks(env_id, fast_human_rendering):
    check_pettingzoo_api(env_id, num_cycles=30)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pairing": "round_robin", "observe_reputation": False, "trace_length": 0},
        {
            "num_agents": 3,
            "trace_length": 5,
            "punishment": True,
            "generation_length": 4,
            "num_rounds": 10,
        },
    ],
)
def test_parameter_variants_pass_the_pettingzoo_checks(kwargs, fast_human_rendering):
    check_pettingzoo_api("donor-v0", num_cycles=30, **kwargs)


def test_ids_are_listed_and_in_pettingzoos_registry():
    assert set(IDS) <= set(envs.list_envs())
    env = pettingzoo.make("parallel", "marlgym/donor-stern-judging-v0", num_agents=4)
    obs, _ = env.reset(seed=0)
    assert len(obs) == 4 and env.core.norm.name == "stern_judging"


def test_batched_copy_equals_a_single_env_seeded_seed_plus_b():
    kwargs = {"punishment": True, "generation_length": 3, "num_rounds": 8, "pairing": "round_robin"}
    batch = envs.make_vec("donor-v0", num_envs=3, **kwargs)
    singles = [envs.make_vec("donor-v0", num_envs=1, **kwargs) for _ in range(3)]
    obs, _ = batch.reset(seed=7)
    single_obs = [s.reset(seed=7 + b)[0] for b, s in enumerate(singles)]
    rng = np.random.default_rng(0)
    for _ in range(20):  # crosses two auto-resets and several generations
        for b in range(3):
            np.testing.assert_array_equal(obs[b], single_obs[b][0])
        actions = rng.integers(0, 6, size=(3, 12))
        obs, rewards, _, truncated, info = batch.step(actions)
        for b, single in enumerate(singles):
            single_obs[b], r, _, tr, single_info = single.step(actions[b : b + 1])
            np.testing.assert_array_equal(rewards[b], r[0])
            np.testing.assert_array_equal(truncated[b], tr[0])
            np.testing.assert_array_equal(info["replaced_by"][b], single_info["replaced_by"][0])


def test_same_seed_same_trajectory_other_seed_other_trajectory():
    def run(seed):
        core = envs.make_vec("donor-v0", num_envs=2)
        core.reset(seed=seed)
        rng = np.random.default_rng(1)
        return np.stack([core.step(rng.integers(0, 5, size=(2, 12)))[1] for _ in range(10)])

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


# ---------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_agents": 11, "pairing": "round_robin"}, r"even num_agents.*num_agents=11"),
        ({"multiplier": 0.5}, r"multiplier must be .*>= 1"),
        (
            {"norm": "golden_rule"},
            r"unknown norm 'golden_rule'.*image_scoring.*shunning.*simple_standing.*stern_judging",
        ),
        ({"pairing": "lottery"}, r"unknown pairing 'lottery'.*random.*round_robin"),
        ({"num_agents": 1}, r"num_agents must be an integer >= 2"),
        ({"num_rounds": 0}, r"num_rounds must be an integer >= 1"),
        ({"execution_error": 1.5}, r"execution_error is a probability"),
        ({"assessment_error": -0.1}, r"assessment_error is a probability"),
        ({"donation_levels": (0.0, 1.5)}, r"donation_levels must be"),
        ({"donation_levels": (0.5, 0.5)}, r"donation_levels must be"),
        ({"start_resources": 0}, r"start_resources must be a positive number"),
        ({"trace_length": -1}, r"trace_length must be an integer >= 0"),
        ({"generation_length": 0}, r"generation_length must be an integer >= 1"),
        ({"punishment": True, "punish_fraction": 0.0}, r"punish_fraction must lie in \(0, 1\]"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        envs.make_vec("donor-v0", **kwargs)


def test_norm_names_accept_hyphens():
    assert envs.make_vec("donor-v0", norm="stern-judging").norm.name == "stern_judging"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"recipients": [0, 1, 2, 3]}, "no self-donation"),
        ({"recipients": [1, 2, 3]}, "must be 4 agent indices"),
        ({"reputation": [0, 1, 2, 1]}, r"must be 0 \(bad\) or 1 \(good\)"),
        ({"resources": [1.0, -1.0, 0.0, 0.0]}, "must be finite and >= 0"),
    ],
)
def test_bad_reset_options_raise(options, message):
    core = envs.make_vec("donor-stern-judging-v0", num_agents=4)
    with pytest.raises(ValueError, match=message):
        core.reset(seed=0, options=options)


def test_unknown_reset_option_warns():
    core = envs.make_vec("donor-v0", num_agents=4)
    with pytest.warns(UserWarning, match="ignoring unknown reset option"):
        core.reset(seed=0, options={"resource": [1, 2, 3, 4]})


def test_action_space_has_the_punishment_action_only_when_asked():
    assert envs.make_vec("donor-v0").num_actions == 5
    core = envs.make_vec("donor-punish-v0")
    assert core.num_actions == 6 and core.punish_action == 5
    assert envs.make_vec("donor-v0", donation_levels=(0.0, 1.0)).num_actions == 2


# ---------------------------------------------------------------------------- observations
def test_observation_describes_the_recipient_faced_in_the_coming_round():
    core = envs.make_vec("donor-v0", num_envs=4, norm="image_scoring")
    obs, _ = core.reset(seed=2)
    rng = np.random.default_rng(2)
    rep = core.obs_slices["reputation"]
    for _ in range(core.num_rounds - 1):
        recipients, reputation = core.recipients, core.reputation
        np.testing.assert_allclose(
            obs[..., rep][..., 0], np.take_along_axis(reputation, recipients, 1) / 5
        )
        obs, _, _, _, info = core.step(rng.integers(0, 5, size=(4, 12)))
        np.testing.assert_array_equal(info["recipients"], recipients)


def test_trace_shows_the_recipients_last_k_decisions_most_recent_first():
    core = envs.make_vec("donor-punish-v0", num_envs=2, trace_length=3, num_rounds=20)
    obs, _ = core.reset(seed=9)
    rng = np.random.default_rng(9)
    history = []  # per round: (donated [B, N], punished [B, N])
    trace = core.obs_slices["trace"]
    for _ in range(10):
        recipients = core.recipients
        seen = obs[..., trace].reshape(2, 12, 3, 3)  # [B, N, k, (present, fraction, punished)]
        for slot in range(3):
            if slot < len(history):
                donated, punished = history[-1 - slot]
                np.testing.assert_array_equal(seen[:, :, slot, 0], 1.0)
                np.testing.assert_allclose(
                    seen[:, :, slot, 1], np.take_along_axis(donated, recipients, 1)
                )
                np.testing.assert_array_equal(
                    seen[:, :, slot, 2], np.take_along_axis(punished, recipients, 1)
                )
            else:
                np.testing.assert_array_equal(seen[:, :, slot], 0.0)
        obs, _, _, _, info = core.step(rng.integers(0, 6, size=(2, 12)))
        history.append((info["donated"], info["punished"]))


def test_hidden_reputation_and_no_trace_leave_only_own_resources_and_round():
    core = envs.make_vec("donor-v0", observe_reputation=False, trace_length=0)
    obs, _ = core.reset(seed=0)
    assert obs.shape == (1, 12, 2) and set(core.obs_slices) == {"resources", "round"}
    np.testing.assert_allclose(obs[0, :, 0], 1.0)  # log2(1 + 10 / 10)
    np.testing.assert_allclose(obs[0, :, 1], 0.0)
    obs, *_ = core.step(np.full((1, 12), 4))
    np.testing.assert_allclose(obs[0, :, 1], 1 / 12)
    np.testing.assert_allclose(obs[0, :, 0], np.log2(1 + core.resources[0] / 10), rtol=1e-6)


def test_state_has_the_documented_shape_and_content():
    core = envs.make_vec("donor-stern-judging-v0", num_envs=2, num_agents=4)
    core.reset(
        seed=0,
        options={
            "reputation": [1, 0, 1, 0],
            "resources": [10, 30, 0, 10],
            "recipients": [1, 2, 3, 0],
        },
    )
    state = core.state()
    assert state.shape == (2, 17) == (2, core.state_space.shape[0])
    per_agent = state[0, :16].reshape(4, 4)
    np.testing.assert_allclose(per_agent[:, 0], np.log2(1 + np.array([10, 30, 0, 10]) / 10))
    np.testing.assert_allclose(per_agent[:, 1], [1, -1, 1, -1])
    np.testing.assert_allclose(per_agent[:, 2], [-1, 1, -1, 1])
    np.testing.assert_allclose(per_agent[:, 3], np.log2(1 + np.array([30, 0, 10, 10]) / 10))


# ---------------------------------------------------------------------------- metrics
def play_episode(core, policy, seed=0):
    obs, _ = core.reset(seed=seed)
    while True:
        obs, _, _, truncated, info = core.step(policy(obs))
        if truncated.all():
            return info


def test_episode_metrics_of_cooperators_defectors_and_a_mix():
    core = envs.make_vec(
        "donor-v0", num_envs=2, execution_error=0.0, assessment_error=0.0, num_rounds=6
    )
    info = play_episode(core, AlwaysCooperate(core))["episode"]
    np.testing.assert_array_equal(info["cooperation_rate"], 1.0)
    np.testing.assert_array_equal(info["donated_fraction"], 1.0)
    np.testing.assert_allclose(info["final_resources"], 10 * 2**6)
    np.testing.assert_array_equal(info["good_reputation_share"], 1.0)
    np.testing.assert_allclose(info["return"], 10 * 2**6 - 10)  # team return: mean change

    info = play_episode(core, AlwaysDefect(core))["episode"]
    np.testing.assert_array_equal(info["cooperation_rate"], 0.0)
    np.testing.assert_array_equal(info["final_resources"], 10.0)
    np.testing.assert_array_equal(
        info["good_reputation_share"], 0.0
    )  # scores below 0 after round 1

    mix = Mixture([AlwaysCooperate(core)] * 3 + [AlwaysDefect(core)] * 9)
    info = play_episode(core, mix)["episode"]
    np.testing.assert_allclose(info["cooperation_rate"], 0.25)
    np.testing.assert_allclose(info["good_reputation_share"], 0.25)


def test_cooperation_rate_counts_intent_and_donated_fraction_counts_execution():
    core = envs.make_vec("donor-v0", num_envs=50, execution_error=0.5, assessment_error=0.0)
    episode = play_episode(core, lambda obs: np.full(obs.shape[:2], 2))["episode"]  # all donate 0.5
    np.testing.assert_array_equal(episode["cooperation_rate"], 1.0)
    assert abs(episode["donated_fraction"].mean() - 0.25) < 0.02


def test_punishment_rate_is_reported_with_punishment():
    core = envs.make_vec("donor-punish-v0", num_envs=1)
    episode = play_episode(core, lambda obs: np.full(obs.shape[:2], 5))["episode"]
    np.testing.assert_array_equal(episode["punishment_rate"], 1.0)
    np.testing.assert_array_equal(episode["cooperation_rate"], 0.0)
    assert (
        "punishment_rate"
        not in play_episode(envs.make_vec("donor-v0"), AlwaysDefect(core))["episode"]
    )


# ---------------------------------------------------------------------------- generations
def test_generations_replace_the_bottom_half_with_copies_of_the_top_half():
    n, g = 12, 3
    core = envs.make_vec(
        "donor-v0", num_envs=4, num_rounds=10, generation_length=g, pairing="round_robin"
    )
    core.reset(seed=1)
    rng = np.random.default_rng(1)
    boundaries, reseated = [], 0
    for t in range(1, 11):
        before, seats_before = core.resources, core.seats
        obs, rewards, _, _, info = core.step(rng.integers(0, 5, size=(4, n)))
        after_play = before + rewards
        replaced = info["replaced_by"] >= 0
        if t % g == 0 and t < 10:
            boundaries.append(t)
            assert np.all(replaced.sum(axis=1) == n // 2)
            np.testing.assert_array_equal(info["generation"], t // g)
            for b in range(4):
                order = np.argsort(-after_play[b], kind="stable")
                losers = np.flatnonzero(replaced[b])
                parents = info["replaced_by"][b, losers]
                # every loser is no richer than every survivor; parents are survivors
                assert after_play[b, losers].max() <= np.delete(after_play[b], losers).min()
                assert not np.any(np.isin(parents, losers))
                assert len(set(parents.tolist())) == n // 2
                # the richer the parent, the poorer the agent it replaces (rank i onto rank N-1-i)
                loser_value, parent_value = after_play[b, losers], after_play[b, parents]
                poorer = loser_value[:, None] < loser_value[None, :]
                assert np.all(parent_value[:, None] >= parent_value[None, :], where=poorer)
                assert parent_value.max() == after_play[b, order[0]]
            np.testing.assert_array_equal(core.resources, 10.0)
            np.testing.assert_array_equal(core.reputation, 0)
            np.testing.assert_array_equal(core.schedule_round, 0)
            reseated += int((core.seats != seats_before).any(axis=1).sum())
            h = n // 2
            for b in range(4):  # the schedule restarts from round 0 of the new seating
                seats = core.seats[b]
                np.testing.assert_array_equal(core.recipients[b, seats[:h]], seats[h:])
                np.testing.assert_array_equal(core.recipients[b, seats[h:]], seats[:h])
            trace = obs[..., core.obs_slices["trace"]]
            np.testing.assert_array_equal(trace, 0.0)
            np.testing.assert_allclose(obs[..., core.obs_slices["generation_round"]], 0.0)
        else:
            assert not replaced.any()
    assert boundaries == [3, 6, 9]
    assert reseated >= 10  # a new generation sits down anew (12 boundaries in all)


def test_no_replacement_after_the_episodes_last_round():
    core = envs.make_vec("donor-v0", num_envs=2, num_rounds=6, generation_length=3)
    core.reset(seed=0)
    replaced = [core.step(np.full((2, 12), 2))[4]["replaced_by"] for _ in range(6)]
    assert [int((r >= 0).sum()) for r in replaced] == [0, 0, 12, 0, 0, 0]


def test_generation_ties_are_broken_at_random():
    core = envs.make_vec("donor-v0", num_envs=40, num_rounds=3, generation_length=1)
    core.reset(seed=0)
    _, _, _, _, info = core.step(np.zeros((40, 12), dtype=np.int64))  # everyone keeps 10
    replaced_sets = {tuple(np.flatnonzero(row >= 0)) for row in info["replaced_by"]}
    assert len(replaced_sets) > 30


# ---------------------------------------------------------------------------- rendering
def test_rgb_frames_show_the_round():
    core = envs.make_vec(
        "donor-punish-v0", num_envs=2, render_mode="rgb_array", generation_length=2
    )
    core.reset(seed=0)
    first = core.render(1)
    assert first.shape == (520, 760, 3) and first.dtype == np.uint8
    core.step(np.tile(np.arange(6).repeat(2), (2, 1)))
    second = core.render(1)
    assert not np.array_equal(first, second)
    assert (second == [220, 40, 40]).all(axis=2).any()  # a punishment arrow
    with pytest.raises(IndexError, match="out of range"):
        core.render(2)
    core.close()


def test_human_mode_draws_to_a_window_and_returns_none(fast_human_rendering):
    env = envs.make("donor-stern-judging-v0", render_mode="human")
    env.reset(seed=0)
    assert env.render() is None
    env.step({a: 4 for a in env.agents})
    env.close()


def test_the_episode_length_is_reported_and_sizes_a_value_learners_episodes():
    core = envs.make_vec("donor-v0", 2, num_rounds=7)
    assert core.max_episode_steps == 7
    assert IQLLearner(IQLConfig(), core, seed=0).max_length == 7  # not the 100-step default
