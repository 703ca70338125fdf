"""The torch foraging core against the numba core: same layouts, same actions, same everything.

Both cores are reset from one layout (``reset(options=...)``) and stepped with the same
joint actions; observations, rewards, terminations, truncations, masks and states must be
identical at every step. The scenarios are those of ``tests/test_foraging_rules.py`` (one
per rule); random layouts come from the numpy core's spawning under many seeds. Random
spawns of the torch core itself (its own generator) are held to the placement rules.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from envs.foraging.core import EAST, LOAD, NONE, NORTH, SOUTH, WEST

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def pair(num_envs=2, device="cpu", **kwargs):
    """A numba core and a torch core with the same arguments (no auto-reset)."""
    kwargs.setdefault("autoreset", False)
    ours = envs.make_vec("foraging-v0", num_envs, **kwargs)
    return ours, envs.make_vec("foraging-v0", num_envs, device=device, **kwargs)


def same(ref, got, what=""):
    np.testing.assert_array_equal(ref, got.cpu().numpy(), err_msg=what)


def check_step(ref, core, actions):
    """Step both cores with ``actions [B, N]``; every output must agree."""
    out_ref = ref.step(actions)
    out = core.step(torch.as_tensor(actions, device=core.device))
    for name, a, b in zip(("obs", "reward", "terminated", "truncated"), out_ref, out):
        same(a, b, name)
    same(ref.action_mask(), core.action_mask(), "mask")
    same(ref.state(), core.state(), "state")
    return out_ref, out


def run_layout(players, food, actions, device="cpu", **kwargs):
    kwargs = {"field_size": 8, "players": len(players), "max_num_food": max(len(food), 1), **kwargs}
    ref, core = pair(device=device, **kwargs)
    layout = {"players": players, "food": food}
    same(ref.reset(options=layout)[0], core.reset(options=layout)[0], "first obs")
    same(ref.action_mask(), core.action_mask(), "first mask")
    for joint in actions:
        check_step(ref, core, np.array([joint, joint]))


# one scenario per rule of tests/test_foraging_rules.py: (players, food, joint actions, kwargs)
SCENARIOS = {
    "load_succeeds": ([(3, 2, 1), (3, 4, 2)], [(3, 3, 3), (6, 6, 2)], [(LOAD, LOAD)], {}),
    "load_fails_penalty": ([(3, 2, 1), (3, 4, 1)], [(3, 3, 3)], [(LOAD, LOAD)], {"penalty": 0.25}),
    "only_loaders": ([(3, 2, 2), (3, 4, 2)], [(3, 3, 3)], [(LOAD, NONE)], {}),
    "unnormalised": (
        [(3, 2, 1), (3, 4, 2)],
        [(3, 3, 3)],
        [(LOAD, LOAD)],
        {"normalize_reward": False},
    ),
    "order_n_s": ([(4, 4, 3)], [(3, 4, 1), (5, 4, 1)], [(LOAD,), (LOAD,)], {"max_player_level": 3}),
    "order_s_w": ([(4, 4, 3)], [(4, 3, 1), (5, 4, 1)], [(LOAD,), (LOAD,)], {"max_player_level": 3}),
    "order_w_e": ([(4, 4, 3)], [(4, 3, 1), (4, 5, 1)], [(LOAD,), (LOAD,)], {"max_player_level": 3}),
    "border_food": ([(1, 3, 2)], [(0, 3, 1)], [(LOAD,)], {}),
    "same_cell": ([(2, 2, 1), (2, 4, 1)], [(6, 6, 1)], [(EAST, WEST)], {}),
    "stay_swap_chain": (
        [(2, 2, 1), (2, 3, 1)],
        [(6, 6, 1)],
        [(EAST, NONE), (EAST, WEST), (EAST, EAST)],
        {},
    ),
    "overlap_chain": ([(2, 1, 1), (2, 2, 1), (2, 4, 1)], [(6, 6, 1)], [(EAST, EAST, WEST)], {}),
    "invalid_as_none": ([(0, 0, 1), (3, 2, 1)], [(3, 3, 2)], [(NORTH, EAST), (WEST, LOAD)], {}),
    "sight_window": (
        [(1, 1, 1), (4, 1, 2)],
        [(3, 3, 2), (6, 6, 1)],
        [(SOUTH, NORTH), (EAST, NONE)],
        {"sight": 2},
    ),
    "no_levels_seen": (
        [(1, 1, 1), (4, 1, 2)],
        [(3, 3, 2)],
        [(SOUTH, EAST)],
        {"sight": 2, "observe_agent_levels": False},
    ),
    "full_sight_no_levels": (
        [(1, 1, 1), (4, 1, 2)],
        [(3, 3, 2), (6, 6, 1)],
        [(SOUTH, EAST), (NONE, LOAD)],
        {"observe_agent_levels": False},
    ),
    "truncation": ([(0, 0, 1), (7, 7, 1)], [(4, 4, 2)], [(NONE, NONE)] * 50, {}),
    "termination_sums_to_one": (
        [(3, 2, 1), (3, 4, 1), (5, 5, 2)],
        [(3, 3, 2), (5, 6, 2)],
        [(LOAD, LOAD, LOAD)],
        {},
    ),
    "grid_observation": (
        [(1, 1, 2), (2, 3, 1)],
        [(2, 2, 3)],
        [(NONE, LOAD), (SOUTH, WEST)],
        {"sight": 1, "grid_observation": True},
    ),
    "grid_at_the_edge": (
        [(0, 0, 1)],
        [(2, 2, 1)],
        [(EAST,), (SOUTH,)],
        {"sight": 1, "grid_observation": True},
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rule_scenarios_match_the_numba_core(name):
    players, food, actions, kwargs = SCENARIOS[name]
    run_layout(players, food, actions, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(field_size=8, players=2, max_num_food=2, force_coop=True),
        dict(field_size=10, players=3, max_num_food=3, sight=2, penalty=0.1),
        dict(field_size=(7, 9), players=4, max_num_food=3, max_food_level=3, sight=3),
        dict(field_size=6, players=3, max_num_food=2, sight=1, grid_observation=True),
    ],
    ids=["8x8-coop", "2s-10x10-pen", "7x9-3s", "grid-1s"],
)
def test_random_layouts_and_actions_match_the_numba_core(kwargs):
    """Layouts from the numpy core's spawner under many seeds; random, load-heavy actions.

    With auto-reset on, the step where episodes end must agree on the final observations,
    states, masks and episode statistics too; then both are reset to the next layout.
    """
    b = 16
    ref, core = pair(b, autoreset=True, max_episode_steps=12, **kwargs)
    spawner = envs.make_vec("foraging-v0", 1, **kwargs)
    rng = np.random.default_rng(0)
    for seed in range(12):
        spawner.reset(seed=seed)
        alive = spawner.food_alive[0]
        layout = {
            "players": np.concatenate([spawner.pos[0], spawner.level[0, :, None]], 1).tolist(),
            "food": np.concatenate(
                [spawner.food_pos[0][alive], spawner.food_level[0][alive, None]], 1
            ).tolist(),
        }
        same(ref.reset(options=layout)[0], core.reset(options=layout)[0])
        for _ in range(12):
            actions = rng.integers(0, 6, (b, ref.num_agents))
            actions[rng.random(actions.shape) < 0.3] = LOAD
            (_, rew, term, trunc, info), out = (
                ref.step(actions),
                core.step(torch.as_tensor(actions)),
            )
            for name, a, c in zip(
                ("reward", "terminated", "truncated"), (rew, term, trunc), out[1:4]
            ):
                same(a, c, name)
            if "episode" in info:
                for key in ("_final", "final_obs", "final_state", "final_action_mask"):
                    same(info[key], out[4][key], key)
                for key, value in info["episode"].items():
                    same(value, out[4]["episode"][key], key)
                break  # the ended copies now hold different random layouts
            assert "episode" not in out[4]
            same(ref._observe(), core._observe(), "obs")
            same(ref.action_mask(), core.action_mask(), "mask")


def test_spawns_obey_the_placement_rules():
    core = envs.make_vec("foraging-v0", 512, device="cpu", field_size=9, players=4, max_num_food=4)
    core.reset(seed=3)
    food, players = core.food_pos.numpy(), core.pos.numpy()
    assert core.food_alive.all()
    assert food.min() >= 1 and food.max() <= 7
    dr = np.abs(food[:, :, None, 0] - food[:, None, :, 0])
    dc = np.abs(food[:, :, None, 1] - food[:, None, :, 1])
    apart = (np.maximum(dr, dc) > 1) & ~((dr == 0) & (dc <= 2)) & ~((dc == 0) & (dr <= 2))
    assert (apart | np.eye(4, dtype=bool)).all()
    cells = np.concatenate([players, food], 1) @ np.array([9, 1])
    assert all(len(set(row)) == 8 for row in cells.tolist())
    top = np.sort(core.level.numpy(), 1)[:, :3].sum(1)
    assert (core.food_level.numpy().max(1) <= top).all()
    assert (
        (core.food_pos[:, :, 0] * 9 + core.food_pos[:, :, 1]).diff(dim=1).gt(0).all()
    )  # row-major


def test_spawn_statistics_match_the_numpy_core():
    kwargs = dict(field_size=8, players=3, max_num_food=3)
    ref = envs.make_vec("foraging-v0", 3000, **kwargs)
    core = envs.make_vec("foraging-v0", 3000, device="cpu", **kwargs)
    ref.reset(seed=7)
    core.reset(seed=7)

    def hist(x):
        return np.bincount(np.asarray(x).ravel(), minlength=8)[:8] / np.asarray(x).size

    np.testing.assert_allclose(hist(core.food_pos[..., 0]), hist(ref.food_pos[..., 0]), atol=0.02)
    np.testing.assert_allclose(hist(core.food_level), hist(ref.food_level), atol=0.02)
    np.testing.assert_allclose(hist(core.level), hist(ref.level), atol=0.03)
    adjacent = core.action_mask()[..., LOAD].float().sum(1).mean().item()
    assert abs(adjacent - ref.action_mask()[..., LOAD].sum(1).mean()) < 0.05
    coop = envs.make_vec("Foraging-8x8-3p-2f-coop-v3", 64, device="cpu")
    coop.reset(seed=0)
    top = torch.sort(coop.level, 1).values[:, :3].sum(1)
    assert (coop.food_level == top[:, None]).all()


def test_per_player_level_ranges_are_shuffled_as_by_the_numpy_core():
    kwargs = dict(field_size=8, players=2, max_num_food=2, min_player_level=[1, 3])
    kwargs["max_player_level"] = [1, 3]
    core = envs.make_vec("foraging-v0", 2000, device="cpu", **kwargs)
    core.reset(seed=5)
    levels = core.level.numpy()
    assert (np.sort(levels, 1) == [1, 3]).all()  # each range used once per copy
    assert abs((levels[:, 0] == 3).mean() - 0.5) < 0.05  # in a uniform order


def test_seeding_is_reproducible_and_per_copy():
    def rollout(num_envs, seed):
        core = envs.make_vec("Foraging-8x8-2p-2f-v3", num_envs, device="cpu")
        obs = [core.reset(seed=seed)[0]]
        gen = torch.Generator().manual_seed(1)
        for _ in range(60):  # past the time limit: auto-resets draw from the copies' streams
            actions = torch.randint(0, 6, (1, 2), generator=gen).expand(num_envs, 2)
            obs.append(core.step(actions.contiguous())[0])
        return torch.stack(obs)

    batch = rollout(3, seed=10)
    assert torch.equal(batch, rollout(3, seed=10))
    assert torch.equal(batch[:, 2:3], rollout(1, seed=12))  # copy 2 of seed 10 = seed 12
    assert not torch.equal(batch[:, 0], batch[:, 1])


def test_returns_tensors_on_the_device_and_episode_stats():
    core = envs.make_vec("Foraging-8x8-2p-2f-coop-v3", 4, device="cpu", max_episode_steps=3)
    obs, _ = core.reset(seed=0)
    assert isinstance(obs, torch.Tensor) and obs.dtype == torch.float32
    assert obs.shape == (4, 2, *core.observation_space.shape)
    for _ in range(3):
        _, rew, term, trunc, info = core.step(torch.zeros((4, 2), dtype=torch.int64))
    assert rew.dtype == torch.float32 and term.dtype == torch.bool
    assert trunc.all() and info["_final"].all()
    assert info["episode"]["length"].tolist() == [3.0] * 4
    assert set(info["episode"]) == {"return", "agent_return", "length", "food_collected"}


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "actions, error, message",
    [
        (np.zeros((2, 2), dtype=np.int64), TypeError, "must be a torch.Tensor on cpu"),
        (torch.zeros((2, 2)), ValueError, "must be an integer tensor, got torch.float32"),
        (torch.zeros((2,), dtype=torch.int64), ValueError, r"shape \[num_envs, num_agents\]"),
        (torch.full((2, 2), 6), ValueError, r"action 6 is out of range: valid actions are 0\.\.5"),
        (torch.zeros((2, 2), dtype=torch.int64, device="meta"), ValueError, "actions are on meta"),
    ],
)
def test_bad_actions_raise_one_clear_error(actions, error, message):
    core = envs.make_vec("foraging-v0", 2, device="cpu")
    core.reset(seed=0)
    with pytest.raises(error, match=message):
        core.step(actions)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so():
    with pytest.raises(RuntimeError, match="needs CUDA.*device='cpu'"):
        envs.make_vec("foraging-v0", 2, device="cuda")


@pytest.mark.parametrize("device", ["tpu", "mps", 3.5])
def test_unknown_devices_raise(device):
    with pytest.raises(ValueError, match="device"):
        envs.make_vec("foraging-v0", 2, device=device)


def test_families_without_a_torch_core_are_named():
    with pytest.raises(ValueError, match=r"has no torch core.*foraging-v0.*swarming-vicsek-v0"):
        envs.make_vec("donor-v0", 2, device="cpu")


def test_bad_layouts_are_rejected_as_by_the_numpy_core():
    core = envs.make_vec("foraging-v0", 2, device="cpu")
    with pytest.raises(ValueError, match="overlaps"):
        core.reset(options={"players": [(0, 0, 1), (0, 0, 1)], "food": [(3, 3, 1)]})


@CUDA
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cuda_core_matches_the_numba_core(name):
    players, food, actions, kwargs = SCENARIOS[name]
    run_layout(players, food, actions, device="cuda", **kwargs)
