"""The torch swarming core against the numpy core, given the same layout and the same noise.

The noise is injected: both cores' ``_draw_noise`` return one array drawn beforehand, so
headings and positions must agree to rounding (float64: 1e-9; float32: 1e-4 over a few dozen
steps), and in float64 the neighbour-based observations, rewards and states too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from envs.swarming import brute_force_pairs
from envs.swarming.torch_core import DENSE_AGENTS

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def pair(num_envs, dtype=torch.float64, device="cpu", **kwargs):
    env_id = f"swarming-{kwargs.pop('model', 'vicsek')}-v0"
    ref = envs.make_vec(env_id, num_envs, **kwargs)
    core = envs.make_vec(env_id, num_envs, device=device, dtype=dtype, **kwargs)
    ref.reset(seed=0)
    obs_ref, _ = ref.reset(options=layout_of(ref))
    obs, _ = core.reset(options=layout_of(ref))
    return ref, core, obs_ref, obs


def layout_of(ref):
    """Copy 0's layout of the numpy core as reset options."""
    layout = {"positions": ref.positions[0], "headings": ref.headings[0]}
    if ref.phases is not None:
        layout.update(phases=ref.phases[0], frequencies=ref.frequencies[0])
    return layout


def inject(ref, core, noise):
    ref._draw_noise = lambda: noise
    core._draw_noise = lambda: torch.as_tensor(noise, dtype=core.dtype, device=core.device)


def close(ref, got, atol):
    np.testing.assert_allclose(ref, got.cpu().numpy(), rtol=0, atol=atol)


CASES = {
    "vicsek": dict(num_agents=40, box_size=3.0),
    "kuramoto-local": dict(
        model="kuramoto",
        num_agents=30,
        box_size=3.0,
        reward="local",
        own_velocity=True,
        turn_cost=0.1,
    ),
    "continuous": dict(num_agents=20, actions="continuous", box_size=1.5, radius=0.7),
    "alignment": dict(
        num_agents=30, box_size=3.0, reward="alignment", turn_cost=0.1, turn_cost_power=1.0
    ),
    "cell-lists": dict(num_agents=DENSE_AGENTS + 44, box_size=8.5),
    "cell-lists-2x2": dict(num_agents=DENSE_AGENTS + 4, box_size=2.0, radius=1.0, noise=2.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_noise_gives_the_same_swarm(name, device="cpu"):
    b = 3
    ref, core, obs_ref, obs = pair(b, device=device, max_episode_steps=7, **CASES[name])
    close(obs_ref, obs, 1e-6)
    rng = np.random.default_rng(1)
    for _ in range(10):  # past the time limit: auto-reset statistics too
        inject(ref, core, (rng.random((b, 2 if ref.phases is not None else 1, ref.n)) - 0.5))
        if ref.is_discrete:
            actions = rng.integers(0, ref.num_actions, (b, ref.n))
        else:
            actions = rng.uniform(-0.7, 0.7, (b, ref.n, 1)).astype(np.float32)
        obs_ref, rew_ref, _, trunc_ref, info_ref = ref.step(actions)
        obs, rew, _, trunc, info = core.step(torch.as_tensor(actions, device=core.device))
        close(trunc_ref, trunc, 0)
        if "episode" in info_ref:
            for key, value in info_ref["episode"].items():
                close(value, info["episode"][key], 1e-6)
            close(info_ref["final_obs"], info["final_obs"], 1e-6)
            close(info_ref["final_state"], info["final_state"], 1e-6)
            layout = layout_of(ref)  # the ended copies hold different random layouts now
            ref.reset(options=layout)
            core.reset(options=layout)
            continue
        close(ref.positions, core.positions, 1e-9)
        close(ref.headings, core.headings, 1e-9)
        close(obs_ref, obs, 1e-6)
        close(rew_ref, rew, 1e-6)
        close(info_ref["order"], info["order"], 1e-9)
        close(ref.state(), core.state(), 1e-6)
        onehot = np.eye(ref.n)[rng.integers(0, ref.n, (b, ref.n))][..., :5]
        close(ref.neighbour_mean(onehot), core.neighbour_mean(torch.as_tensor(onehot)), 1e-6)


def test_float32_tracks_float64_to_tolerance():
    b = 4
    ref, core, _, _ = pair(b, dtype=torch.float32, num_agents=50)
    rng = np.random.default_rng(2)
    for _ in range(30):
        inject(ref, core, rng.random((b, 1, 50)) - 0.5)
        actions = rng.integers(0, 7, (b, 50))
        ref.step(actions)
        core.step(torch.as_tensor(actions))
    close(ref.headings, core.headings, 1e-4)
    close(ref.positions, core.positions, 1e-4)


@pytest.mark.parametrize("agents, box", [(300, 8.0), (270, 1.9), (400, 2.5)])
def test_neighbour_lists_match_brute_force(agents, box):
    core = envs.make_vec(
        "swarming-vicsek-v0",
        2,
        device="cpu",
        dtype=torch.float64,
        num_agents=agents,
        box_size=box,
        radius=min(1.0, box / 2),
    )
    core.reset(seed=agents)
    i = torch.arange(2 * agents)[:, None].expand_as(core._nbr)[core._valid]
    j = core._nbr[core._valid]
    ours = {(a, b) for a, b in zip(i.tolist(), j.tolist()) if a < b}
    ref = brute_force_pairs(core.positions.numpy(), box, min(1.0, box / 2))
    assert ours == ref.as_set()
    assert (core.neighbour_counts().view(-1).numpy() == ref.counts).all()


def test_seeding_is_reproducible_and_per_copy():
    def rollout(num_envs, seed):
        core = envs.make_vec("swarming-kuramoto-v0", num_envs, device="cpu", num_agents=10)
        core.reset(seed=seed)
        for _ in range(5):
            core.step(torch.full((num_envs, 10), 3))
        return torch.cat([core.positions.flatten(1), core.phases, core.frequencies], 1)

    batch = rollout(3, seed=4)
    assert torch.equal(batch, rollout(3, seed=4))
    assert torch.equal(batch[1:2], rollout(1, seed=5))
    assert not torch.equal(batch[0], batch[1])


def test_random_layouts_are_uniform_and_wrapped():
    core = envs.make_vec("swarming-vicsek-v0", 64, device="cpu", num_agents=100)
    core.reset(seed=0)
    pos, head = core.positions, core.headings
    assert pos.min() >= 0 and pos.max() < 5.0 and head.min() >= -np.pi and head.max() < np.pi
    assert abs(pos.mean().item() - 2.5) < 0.05 and abs(head.mean().item()) < 0.05
    assert core.order_parameter().mean() < 0.2  # disordered at the start


def test_bad_arguments_raise_one_clear_error():
    with pytest.raises(ValueError, match="dtype must be"):
        envs.make_vec("swarming-vicsek-v0", 1, device="cpu", dtype=torch.int32)
    core = envs.make_vec("swarming-vicsek-v0", 1, device="cpu")
    with pytest.raises(ValueError, match="needs model='kuramoto'"):
        core.reset(options={"phases": np.zeros(100)})
    core.reset(seed=0)
    with pytest.raises(ValueError, match="integer tensor"):
        core.step(torch.zeros((1, 100)))
    cont = envs.make_vec("swarming-vicsek-v0", 1, device="cpu", actions="continuous", num_agents=2)
    cont.reset(seed=0)
    with pytest.raises(ValueError, match="finite and lie in"):
        cont.step(torch.full((1, 2, 1), 5.0))
    with pytest.raises(ValueError, match="float tensor"):
        cont.step(torch.zeros((1, 2, 1), dtype=torch.int64))


@CUDA
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_core_matches_the_numpy_core(name):
    test_same_noise_gives_the_same_swarm(name, device="cuda")
