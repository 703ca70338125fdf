"""One scenario per foraging rule, each set up through the documented layout reset option."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.foraging.core import EAST, LOAD, NONE, NORTH, WEST

lbf = pytest.importorskip("lbforaging.foraging.environment")


def scenario(players, food, **kwargs):
    """A one-copy core with the given layout: players/food are (row, col, level) triples."""
    kwargs = {"field_size": 8, "players": len(players), "max_num_food": max(len(food), 1), **kwargs}
    core = envs.make_vec("foraging-v0", 1, autoreset=False, **kwargs)
    obs, _ = core.reset(options={"players": players, "food": food})
    return core, obs


def step(core, *actions):
    obs, rew, term, trunc, info = core.step(np.array([actions]))
    return obs[0], rew[0], term[0], trunc[0], info


def test_loading_succeeds_when_levels_suffice_and_rewards_follow_the_formula():
    # food level 3 at (3,3); player levels 1 and 2 on its west and east; a second food keeps
    # the episode going so the normaliser is the total spawned level 3 + 2 = 5
    core, _ = scenario([(3, 2, 1), (3, 4, 2)], [(3, 3, 3), (6, 6, 2)])
    _, rew, term, _, _ = step(core, LOAD, LOAD)
    np.testing.assert_allclose(rew, [1 * 3 / (3 * 5), 2 * 3 / (3 * 5)], rtol=1e-6)
    assert not core.food_alive[0, core.food_pos[0, :, 0].tolist().index(3)]
    assert not term.any()


def test_loading_fails_when_levels_fall_short_and_penalty_applies():
    core, _ = scenario([(3, 2, 1), (3, 4, 1)], [(3, 3, 3)], penalty=0.25)
    _, rew, _, _, _ = step(core, LOAD, LOAD)
    np.testing.assert_allclose(rew, [-0.25, -0.25])
    assert core.food_alive[0].any()


def test_only_loading_agents_join_the_group():
    core, _ = scenario([(3, 2, 2), (3, 4, 2)], [(3, 3, 3)])
    _, rew, _, _, _ = step(core, LOAD, NONE)  # level 2 alone cannot lift level 3
    np.testing.assert_allclose(rew, [0.0, 0.0])
    assert core.food_alive[0, 0]


def test_unnormalised_reward_is_level_times_food_level():
    core, _ = scenario([(3, 2, 1), (3, 4, 2)], [(3, 3, 3)], normalize_reward=False)
    _, rew, term, _, _ = step(core, LOAD, LOAD)
    np.testing.assert_allclose(rew, [1 * 3 / 3, 2 * 3 / 3])
    assert term.all()


def test_food_choice_order_is_north_south_west_east():
    # the agent at (4,4) touches food north (3,4) and south (5,4) (a layout spawning never makes);
    # its level 3 needs max_player_level=3, or its observation would leave the space
    core, _ = scenario([(4, 4, 3)], [(3, 4, 1), (5, 4, 1)], max_player_level=3)
    step(core, LOAD)
    assert our_food(core) == {(5, 4, 1)}
    core, _ = scenario([(4, 4, 3)], [(4, 3, 1), (5, 4, 1)], max_player_level=3)
    step(core, LOAD)  # south comes before west
    assert our_food(core) == {(4, 3, 1)}
    core, _ = scenario([(4, 4, 3)], [(4, 3, 1), (4, 5, 1)], max_player_level=3)
    step(core, LOAD)  # west before east
    assert our_food(core) == {(4, 5, 1)}


def test_food_on_the_border_can_be_loaded():
    """lbforaging skips food in row 0 / col 0 (its `row > 1` test): fixed (defect 6)."""
    core, _ = scenario([(1, 3, 2)], [(0, 3, 1)])
    _, rew, term, _, _ = step(core, LOAD)
    assert rew[0] == pytest.approx(1.0)
    assert term.all()


def test_agents_claiming_the_same_cell_all_stay():
    core, _ = scenario([(2, 2, 1), (2, 4, 1)], [(6, 6, 1)])
    step(core, EAST, WEST)
    assert core.pos[0].tolist() == [[2, 2], [2, 4]]


def test_moving_into_a_staying_agent_fails_and_swaps_succeed():
    core, _ = scenario([(2, 2, 1), (2, 3, 1)], [(6, 6, 1)])
    step(core, EAST, NONE)
    assert core.pos[0].tolist() == [[2, 2], [2, 3]]
    step(core, EAST, WEST)  # lbforaging lets agents swap places
    assert core.pos[0].tolist() == [[2, 3], [2, 2]]
    step(core, EAST, EAST)  # a chain that moves together
    assert core.pos[0].tolist() == [[2, 4], [2, 3]]


def test_the_overlap_defect_is_fixed_along_a_chain():
    # (2,1)->E blocked by (2,2) whose E move collides with (2,4)'s W move
    core, _ = scenario([(2, 1, 1), (2, 2, 1), (2, 4, 1)], [(6, 6, 1)])
    step(core, EAST, EAST, WEST)
    assert core.pos[0].tolist() == [[2, 1], [2, 2], [2, 4]]


def test_invalid_actions_act_as_none():
    core, _ = scenario([(0, 0, 1), (3, 2, 1)], [(3, 3, 2)])
    mask = core.action_mask()[0]
    assert not mask[0, NORTH] and not mask[0, WEST] and not mask[0, LOAD]
    assert not mask[1, EAST]  # onto food
    step(core, NORTH, EAST)
    assert core.pos[0].tolist() == [[0, 0], [3, 2]]


def test_sight_window_clips_at_the_edge():
    # agent 0 at (1,1) with sight 2: window rows/cols 0..3; food at (3,3) seen at (3,3),
    # food at (5,5) unseen; agent 1 at (4,1) is seen by lbforaging's rule (both window
    # coordinates within 0..2*sight) although 3 rows away: kept for comparability
    core, obs = scenario([(1, 1, 1), (4, 1, 2)], [(3, 3, 2), (6, 6, 1)], sight=2)
    o = obs[0, 0]
    np.testing.assert_array_equal(o[:6], [3, 3, 2, -1, -1, 0])
    np.testing.assert_array_equal(o[6:9], [1, 1, 1])  # itself, relative to the window
    np.testing.assert_array_equal(o[9:12], [4, 1, 2])
    # agent 1 at (4,1): window rows 2..6, cols 0..3; food (3,3) at (1,3); agent 0 out of sight
    o = obs[0, 1]
    np.testing.assert_array_equal(o[:6], [1, 3, 2, -1, -1, 0])
    np.testing.assert_array_equal(o[6:12], [2, 1, 2, -1, -1, 0])


def test_truncation_at_the_time_limit_is_not_termination():
    core = envs.make_vec("Foraging-8x8-2p-2f-coop-v3", 1, autoreset=False)
    core.reset(options={"players": [(0, 0, 1), (7, 7, 1)], "food": [(4, 4, 2)]})
    for t in range(50):
        _, _, term, trunc, _ = step(core, NONE, NONE)
        assert not term.any()
        assert trunc.all() == (t == 49)


def test_termination_when_all_food_is_gone_and_episode_sums_to_one():
    core, _ = scenario([(3, 2, 1), (3, 4, 1), (5, 5, 2)], [(3, 3, 2), (5, 6, 2)])
    total = 0.0
    _, rew, term, trunc, _ = step(core, LOAD, LOAD, LOAD)
    total += rew.sum()
    assert term.all() and not trunc.any()
    assert total == pytest.approx(1.0)


def test_grid_observation_layers():
    core, obs = scenario([(1, 1, 2), (2, 3, 1)], [(2, 2, 3)], sight=1, grid_observation=True)
    assert obs.shape == (1, 2, 3, 3, 3)
    agents, food, access = obs[0, 0]
    np.testing.assert_array_equal(agents, [[0, 0, 0], [0, 2, 0], [0, 0, 0]])
    np.testing.assert_array_equal(food, [[0, 0, 0], [0, 0, 0], [0, 0, 3]])
    np.testing.assert_array_equal(access, [[1, 1, 1], [1, 0, 1], [1, 1, 0]])
    agents, food, access = obs[0, 1]  # at (2,3): sees (1..3, 2..4)
    np.testing.assert_array_equal(food, [[0, 0, 0], [3, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(agents[1, 1], 1)
    core, obs = scenario([(0, 0, 1)], [(2, 2, 1)], sight=1, grid_observation=True)
    np.testing.assert_array_equal(obs[0, 0, 2], [[0, 0, 0], [0, 0, 1], [0, 1, 1]])  # out of bounds


def test_more_than_four_food():
    core = envs.make_vec("Foraging-15x15-4p-5f-v3", 8)
    core.reset(seed=0)
    assert core.food_alive.sum(axis=1).tolist() == [5] * 8


def our_food(core) -> set:
    return {
        (int(core.food_pos[0, f, 0]), int(core.food_pos[0, f, 1]), int(core.food_level[0, f]))
        for f in np.flatnonzero(core.food_alive[0])
    }


# ---------------------------------------------------------------- spawning
def test_spawn_rules_hold():
    core = envs.make_vec("foraging-v0", 256, field_size=9, players=4, max_num_food=4)
    core.reset(seed=3)
    for b in range(core.num_envs):
        food = core.food_pos[b][core.food_alive[b]]
        assert len(food) == 4
        assert food.min() >= 1 and food.max() <= 7
        for i in range(len(food)):
            for j in range(i + 1, len(food)):
                dr, dc = np.abs(food[i] - food[j])
                assert max(dr, dc) > 1 and not (dr == 0 and dc <= 2) and not (dc == 0 and dr <= 2)
        cells = {tuple(p) for p in core.pos[b].tolist()} | {tuple(p) for p in food.tolist()}
        assert len(cells) == 8
        top = np.sort(core.level[b])[:3].sum()
        assert core.food_level[b][core.food_alive[b]].max() <= top


def test_coop_food_gets_the_maximum_level():
    core = envs.make_vec("Foraging-8x8-3p-2f-coop-v3", 64)
    core.reset(seed=0)
    top = np.sort(core.level, axis=1)[:, :3].sum(axis=1)
    assert (core.food_level == top[:, None]).all()


def test_spawn_distribution_matches_lbforaging():
    """Spawning statistics of 3000 layouts agree with lbforaging's (random rule, so a margin)."""
    n = 3000
    core = envs.make_vec("foraging-v0", n, field_size=8, players=3, max_num_food=3)
    core.reset(seed=7)
    ref = lbf.ForagingEnv(
        players=3,
        min_player_level=1,
        max_player_level=2,
        min_food_level=1,
        max_food_level=None,
        field_size=(8, 8),
        max_num_food=3,
        sight=8,
        max_episode_steps=50,
        force_coop=False,
    )
    ref_rows, ref_levels, ref_adjacent = [], [], []
    for seed in range(n):
        ref.reset(seed=seed)
        rows, _ = np.nonzero(ref.field)
        ref_rows += rows.tolist()
        ref_levels += ref.field[ref.field > 0].tolist()
        ref_adjacent.append(sum(ref.adjacent_food(*p.position) > 0 for p in ref.players))
    ours_rows = core.food_pos[..., 0][core.food_alive]
    ours_levels = core.food_level[core.food_alive]
    ours_adjacent = core.action_mask()[..., LOAD].sum(axis=1)
    hist = lambda x: np.bincount(np.asarray(x), minlength=8)[:8] / len(x)  # noqa: E731
    np.testing.assert_allclose(hist(ours_rows), hist(ref_rows), atol=0.02)
    np.testing.assert_allclose(hist(ours_levels), hist(ref_levels), atol=0.02)
    assert abs(np.mean(ours_adjacent) - np.mean(ref_adjacent)) < 0.05


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(field_size=3, players=10), "players=10"),
        (dict(field_size=5, max_num_food=5), "max_num_food=5"),
        (dict(players=0), "players must be a positive integer"),
        (dict(sight=0), "sight must be a positive integer"),
        (dict(min_player_level=3, max_player_level=2), "min_player_level"),
        (dict(penalty=-1.0), "penalty must be >= 0"),
        (dict(field_size=(4, 5, 6)), "field_size"),
    ],
)
def test_impossible_parameters_raise_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        envs.make_vec("foraging-v0", 1, **kwargs)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"players": [(0, 0, 1), (0, 0, 1)], "food": [(3, 3, 1)]}, "overlaps"),
        ({"players": [(0, 0, 1), (3, 3, 1)], "food": [(3, 3, 1)]}, "overlaps"),
        ({"players": [(0, 0, 1), (8, 0, 1)], "food": [(3, 3, 1)]}, "off the grid"),
        ({"players": [(0, 0, 1)], "food": [(3, 3, 1)]}, "must list 2"),
        (
            {"players": [(0, 0, 1), (1, 1, 1)], "food": [(3, 3, 1), (5, 5, 1), (6, 1, 1)]},
            "max_num_food",
        ),
        ({"players": [(0, 0, 0), (1, 1, 1)], "food": [(3, 3, 1)]}, "level"),
    ],
)
def test_bad_layouts_raise_value_error(options, message):
    core = envs.make_vec("foraging-v0", 1, field_size=8, players=2, max_num_food=2)
    with pytest.raises(ValueError, match=message):
        core.reset(options=options)


@pytest.mark.parametrize(
    "actions, message",
    [
        (np.array([[0, 6]]), r"out of range: valid actions are 0\.\.5"),
        (np.array([[0, -1]]), "out of range"),
        (np.array([0, 1]), r"shape \[num_envs, num_agents\] = \(1, 2\)"),
        (np.array([[0.5, 1]]), "must be integers"),
    ],
)
def test_bad_actions_raise_value_error(actions, message):
    core = envs.make_vec("foraging-v0", 1)
    core.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        core.step(actions)


def test_bad_actions_through_the_pettingzoo_view():
    env = envs.make("foraging-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step({"player_0": 9, "player_1": 0})
    with pytest.raises(ValueError, match="missing action"):
        env.step({"player_0": 1})
    with pytest.raises(ValueError, match="unknown agent"):
        env.step({"player_0": 1, "player_1": 0, "ghost": 0})
