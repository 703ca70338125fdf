"""Differential test against lbforaging 2.0.0 (JaxMARL-style parity: copy the layout into the
reference env, step both with the same actions, compare everything after every step).

Compared: rewards, positions, food, vector observations, action masks vs lbforaging's valid
actions, and episode end. Where a documented defect fires (an overlap after a failed move,
defect 2 of envs/foraging/core.py) the episode stops being comparable; the test checks that
the defect really is what happened there and that our env kept agents apart.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

lbf = pytest.importorskip("lbforaging.foraging.environment")

import envs  # noqa: E402


def reference_env(core) -> lbf.ForagingEnv:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lbf.ForagingEnv(
            players=core.n_players,
            min_player_level=1,
            max_player_level=2,
            min_food_level=1,
            max_food_level=None,
            field_size=(core.rows, core.cols),
            max_num_food=core.n_food,
            sight=core.sight,
            max_episode_steps=core.max_episode_steps,
            force_coop=core.force_coop,
            penalty=core.penalty,
        )


def copy_layout(core, ref) -> None:
    """Put the core's (copy 0) layout into the reference env."""
    ref.reset(seed=0)
    ref.field = np.zeros((core.rows, core.cols), np.int32)
    for f in np.flatnonzero(core.food_alive[0]):
        r, c = core.food_pos[0, f]
        ref.field[r, c] = core.food_level[0, f]
    for p, player in enumerate(ref.players):
        player.position = tuple(int(v) for v in core.pos[0, p])
        player.level = int(core.level[0, p])
        player.reward = 0
        player.score = 0
    ref._food_spawned = ref.field.sum()
    ref.current_step = 0
    ref._game_over = False
    ref._gen_valid_moves()


def ref_mask(ref) -> np.ndarray:
    return np.array(
        [[lbf.Action(a) in ref._valid_actions[p] for a in range(6)] for p in ref.players]
    )


def ref_food(ref) -> set:
    return {(int(r), int(c), int(ref.field[r, c])) for r, c in zip(*np.nonzero(ref.field))}


def our_food(core) -> set:
    return {
        (int(core.food_pos[0, f, 0]), int(core.food_pos[0, f, 1]), int(core.food_level[0, f]))
        for f in np.flatnonzero(core.food_alive[0])
    }


CONFIGS = [
    dict(field_size=8, players=2, max_num_food=2, force_coop=True),
    dict(field_size=10, players=3, max_num_food=3),
    dict(field_size=10, players=3, max_num_food=3, sight=2),
    dict(field_size=7, players=4, max_num_food=3, sight=1, penalty=0.1),
    dict(field_size=6, players=5, max_num_food=2, penalty=0.05),
    dict(field_size=12, players=4, max_num_food=4, sight=3, force_coop=True),
    dict(field_size=5, players=2, max_num_food=1, force_coop=True, max_episode_steps=20),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_matches_lbforaging_step_by_step(config):
    rng = np.random.default_rng(12345)
    core = envs.make_vec("foraging-v0", 1, autoreset=False, **config)
    ref = reference_env(core)
    compared_steps = defects = rewarded = 0
    for episode in range(25):
        obs, _ = core.reset(seed=1000 + episode)
        copy_layout(core, ref)
        ref_obs = np.stack(ref._make_gym_obs())
        np.testing.assert_array_equal(obs[0], ref_obs)
        for _ in range(core.max_episode_steps):
            mask = core.action_mask()[0]
            np.testing.assert_array_equal(mask, ref_mask(ref))
            # random actions, invalid ones included, with a bias towards LOAD next to food
            actions = rng.integers(0, 6, core.n_players)
            actions = np.where(mask[:, 5] & (rng.random(core.n_players) < 0.6), 5, actions)
            obs, rew, term, trunc, _ = core.step(actions[None])
            ref_obs, ref_rew, ref_done, ref_trunc, _ = ref.step(list(actions))
            ref_pos = [p.position for p in ref.players]
            if len(set(ref_pos)) < len(ref_pos):  # defect 2 fired in lbforaging
                defects += 1
                ours = [tuple(p) for p in core.pos[0].tolist()]
                assert len(set(ours)) == len(ours), "our agents must never share a cell"
                break
            compared_steps += 1
            assert [tuple(p) for p in core.pos[0].tolist()] == [tuple(p) for p in ref_pos]
            assert our_food(core) == ref_food(ref)
            np.testing.assert_allclose(
                rew[0], np.array(ref_rew, dtype=np.float64), rtol=1e-6, atol=1e-7
            )
            np.testing.assert_array_equal(obs[0], np.stack(ref_obs))
            rewarded += int(np.any(rew[0] > 0))
            # lbforaging reports the time limit as termination (defect 1): compare the union
            assert bool(term[0, 0] or trunc[0, 0]) == bool(ref_done)
            assert not ref_trunc
            if term[0, 0] or trunc[0, 0]:
                assert term[0, 0] == (not ref.field.any())
                break
    assert compared_steps > 200
    assert rewarded > 0, "the comparison must cover successful loads"


def test_overlap_defect_is_fixed_where_lbforaging_shows_it():
    """DESIGN 2.2's example: positions (2,1),(2,2),(2,4) with actions E,E,W."""
    layout = {"players": [(2, 1, 1), (2, 2, 1), (2, 4, 1)], "food": [(6, 6, 1)]}
    core = envs.make_vec("foraging-v0", 1, autoreset=False, field_size=8, players=3, max_num_food=1)
    core.reset(options=layout)
    ref = reference_env(core)
    copy_layout(core, ref)
    east, west = 4, 3
    core.step(np.array([[east, east, west]]))
    ref.step([east, east, west])
    assert [p.position for p in ref.players] == [(2, 2), (2, 2), (2, 4)]  # the defect
    assert core.pos[0].tolist() == [[2, 1], [2, 2], [2, 4]]  # fixed: nobody moves
