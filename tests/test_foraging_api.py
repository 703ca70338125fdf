"""Foraging through PettingZoo's own checkers, the registry, and the batched-core contract."""

from __future__ import annotations

import numpy as np
import pettingzoo
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import envs
from envs.foraging.core import LOAD, NONE, max_food_that_fits
from tests.pettingzoo_checks import check_pettingzoo_api


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("Foraging-8x8-2p-2f-coop-v3", {}),
        ("Foraging-2s-10x10-3p-3f-v3", {"action_masks": True}),
        ("Foraging-15x15-4p-5f-v3", {}),
        ("Foraging-grid-2s-8x8-2p-2f-coop-v3", {"action_masks": True}),
        (
            "foraging-v0",
            {
                "field_size": 6,
                "players": 3,
                "max_num_food": 1,
                "penalty": 0.1,
                "observe_agent_levels": False,
            },
        ),
    ],
)
def test_pettingzoo_api(env_id, kwargs):
    check_pettingzoo_api(env_id, **kwargs)


def test_registry_resolves_epymarl_names():
    env = envs.make("Foraging-2s-10x10-3p-3f-coop-pen-v3")
    core = env.core
    assert (core.rows, core.cols, core.n_players, core.n_food, core.sight) == (10, 10, 3, 3, 2)
    assert core.force_coop and core.penalty == pytest.approx(0.1) and core.max_episode_steps == 50
    assert envs.make_vec("Foraging-15x15-4p-5f-v3", 2).n_food == 5
    assert "foraging-v0" in envs.list_envs()
    assert "Foraging-8x8-2p-2f-coop-v3" in envs.list_envs(aliases=True)


def test_unknown_id_names_the_closest_ids():
    with pytest.raises(KeyError, match="foraging-v0"):
        envs.make("foragin-v0")
    with pytest.raises(KeyError, match="Foraging-8x8-2p-2f-coop-v3"):
        envs.make("Foraging-8x8-2p-2f-cop-v3")


def test_pettingzoo_registry():
    env = pettingzoo.make("parallel", "marlgym/foraging-v0", field_size=6)
    obs, _ = env.reset(seed=1)
    assert set(obs) == {"player_0", "player_1"}
    assert env.core.rows == 6


@pytest.mark.parametrize(
    "env_id",
    ["Foraging-8x8-2p-2f-coop-v3", "Foraging-2s-8x8-2p-2f-coop-v3", "Foraging-15x15-4p-5f-v3"],
)
def test_lbforaging_ids_are_in_pettingzoos_registry(env_id):
    from envs.foraging import LBFORAGING_IDS

    env = pettingzoo.make("parallel", f"marlgym/{env_id}")
    direct = envs.make(env_id)
    obs, _ = env.reset(seed=3)
    same, _ = direct.reset(seed=3)
    assert all(np.array_equal(obs[a], same[a]) for a in env.possible_agents)
    assert env_id in LBFORAGING_IDS and len(LBFORAGING_IDS) == 15 * 8 * 5 * 2 * 2


def test_an_alias_registered_in_pettingzoo_must_match_its_pattern():
    with pytest.raises(ValueError, match="does not match the alias pattern"):
        envs.register_alias(
            r"never-\d+",
            lambda m: ("foraging-v0", {}),
            pettingzoo_ids=["x"],
            pettingzoo_namespace="marlgym-test",
        )


def test_batch_equals_separate_single_envs():
    """Copy b of a batch seeded s behaves exactly like a one-copy core seeded s + b."""
    batch, seed, steps = 6, 40, 120  # long enough for several auto-resets
    kwargs = dict(field_size=6, players=3, max_num_food=2, max_episode_steps=15)
    core = envs.make_vec("foraging-v0", batch, **kwargs)
    singles = [envs.make_vec("foraging-v0", 1, **kwargs) for _ in range(batch)]
    obs, _ = core.reset(seed=seed)
    single_obs = [s.reset(seed=seed + b)[0] for b, s in enumerate(singles)]
    np.testing.assert_array_equal(obs, np.concatenate(single_obs))
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(steps):
        actions = rng.integers(0, 6, (batch, 3))
        obs, rew, term, trunc, info = core.step(actions)
        for b, s in enumerate(singles):
            o, r, te, tr, i = s.step(actions[b : b + 1])
            np.testing.assert_array_equal(obs[b], o[0])
            np.testing.assert_array_equal(rew[b], r[0])
            np.testing.assert_array_equal(term[b], te[0])
            np.testing.assert_array_equal(trunc[b], tr[0])
        finished += int(info.get("_final", np.zeros(batch)).sum())
    assert finished >= batch


def test_auto_reset_reports_final_observation_and_episode_statistics():
    core = envs.make_vec("foraging-v0", 2, field_size=6, max_episode_steps=3)
    core.reset(seed=0)
    for _ in range(2):
        _, _, _, _, info = core.step(np.zeros((2, 2), dtype=int))
        assert "_final" not in info
    obs, _, _, trunc, info = core.step(np.zeros((2, 2), dtype=int))
    assert trunc.all() and info["_final"].all()
    assert info["episode"]["length"].tolist() == [3, 3]
    assert info["final_obs"].shape == obs.shape
    assert not np.array_equal(info["final_obs"], obs)  # the new episode has a new layout
    assert (core.t == 0).all()


def test_same_seed_same_trajectories():
    def rollout(seed):
        core = envs.make_vec("Foraging-8x8-2p-2f-v3", 4)
        obs, _ = core.reset(seed=seed)
        rng = np.random.default_rng(1)
        out = [obs]
        for _ in range(80):
            out.append(core.step(rng.integers(0, 6, (4, 2)))[0])
        return np.stack(out)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.array_equal(rollout(3), rollout(4))


def test_state_and_neighbour_mean_shapes():
    core = envs.make_vec("Foraging-2s-10x10-3p-3f-v3", 5)
    core.reset(seed=0)
    assert core.state().shape == (5, core.state_space.shape[0])
    assert core.state_space.contains(core.state()[0])
    onehot = np.eye(6, dtype=np.float32)[np.random.default_rng(0).integers(0, 6, (5, 3))]
    mean = core.neighbour_mean(onehot)
    assert mean.shape == (5, 3, 6)
    sums = mean.sum(-1)
    assert np.all((np.isclose(sums, 1.0)) | (sums == 0))


# ---------------------------------------------------------------- properties (hypothesis)
layouts = st.tuples(
    st.integers(5, 10), st.integers(2, 5), st.integers(1, 3), st.integers(1, 10), st.booleans()
)


@settings(max_examples=40, deadline=None)
@given(config=layouts, seed=st.integers(0, 10_000))
def test_invariants_over_random_episodes(config, seed):
    size, players, food, sight, coop = config
    food = min(food, max_food_that_fits(size, size))
    core = envs.make_vec(
        "foraging-v0",
        3,
        field_size=size,
        players=players,
        max_num_food=food,
        sight=sight,
        force_coop=coop,
        autoreset=False,
    )
    core.reset(seed=seed)
    rng = np.random.default_rng(seed)
    eaten = ~core.food_alive.copy()
    total = np.zeros(3)
    for _ in range(core.max_episode_steps):
        mask = core.action_mask()
        actions = np.where(
            mask[..., LOAD] & (rng.random((3, players)) < 0.5),
            LOAD,
            rng.integers(0, 6, (3, players)),
        )
        _, rew, term, trunc, _ = core.step(actions)
        total += rew.sum(axis=1)
        for b in range(3):
            cells = [tuple(p) for p in core.pos[b].tolist()]
            assert len(set(cells)) == players, "no two agents share a cell"
        assert (
            (core.pos >= 0).all()
            and (core.pos[..., 0] < size).all()
            and (core.pos[..., 1] < size).all()
        )
        assert not (core.food_alive & eaten).any(), "food never comes back within an episode"
        eaten |= ~core.food_alive
        food_cells = core._food_id[:, 1:-1, 1:-1] >= 0
        assert not food_cells[np.arange(3)[:, None], core.pos[..., 0], core.pos[..., 1]].any()
        if (term | trunc).all():
            break
    cleared = ~core.food_alive.any(axis=1)
    np.testing.assert_allclose(total[cleared], 1.0, rtol=1e-5)
    assert (total[~cleared] < 1.0 - 1e-9).all()


@settings(max_examples=40, deadline=None)
@given(
    config=layouts, seed=st.integers(0, 10_000), agent=st.integers(0, 4), action=st.integers(1, 5)
)
def test_action_mask_is_the_set_of_actions_that_are_not_a_no_op(config, seed, agent, action):
    """A masked action changes nothing (it is NONE); an unmasked move changes the mover's cell
    whenever that cell is free and nobody else moves; an unmasked LOAD has food next to it."""
    size, players, food, sight, coop = config
    food = min(food, max_food_that_fits(size, size))
    agent %= players
    kwargs = dict(
        field_size=size,
        players=players,
        max_num_food=food,
        sight=sight,
        force_coop=coop,
        autoreset=False,
    )
    core = envs.make_vec("foraging-v0", 1, **kwargs)
    twin = envs.make_vec("foraging-v0", 1, **kwargs)
    core.reset(seed=seed)
    twin.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(int(rng.integers(0, 10))):  # wander to a random state
        a = rng.integers(0, 6, (1, players))
        _, _, term, trunc, _ = core.step(a)
        twin.step(a)
        assume(not (term | trunc).all())
    allowed = core.action_mask()[0, agent, action]
    joint = np.full((1, players), NONE)
    joint[0, agent] = action
    before = core.pos.copy()
    o1, r1, *_ = core.step(joint)
    o2, r2, *_ = twin.step(np.full((1, players), NONE))
    if not allowed:
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
    elif action == LOAD:
        adjacent = twin.food_alive[0] & (np.abs(twin.food_pos[0] - before[0, agent]).sum(-1) == 1)
        assert adjacent.any()
    else:
        occupied = {tuple(p) for i, p in enumerate(before[0].tolist()) if i != agent}
        target = tuple(
            (
                before[0, agent] + np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])[action]
            ).tolist()
        )
        moved = tuple(core.pos[0, agent].tolist()) == target
        assert moved == (target not in occupied)
