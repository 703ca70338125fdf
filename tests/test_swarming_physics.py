"""Swarming dynamics: invariants under random parameters and actions, and the Vicsek transition."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs.swarming import vicsek_actions


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(["vicsek", "kuramoto"]),
    actions=st.sampled_from(["discrete", "continuous"]),
    agents=st.integers(1, 40),
    box=st.floats(0.5, 20.0),
    radius_fraction=st.floats(0.05, 0.5),
    speed_fraction=st.floats(0.0, 0.45),
    noise=st.floats(0.0, 2 * np.pi),
    seed=st.integers(0, 2**31 - 1),
)
def test_positions_stay_in_the_box_speed_is_constant_angles_stay_wrapped(
    model, actions, agents, box, radius_fraction, speed_fraction, noise, seed
):
    speed = speed_fraction * box
    core = envs.make_vec(
        f"swarming-{model}-v0",
        num_envs=2,
        num_agents=agents,
        box_size=box,
        radius=radius_fraction * box,
        speed=speed,
        noise=noise,
        actions=actions,
        max_episode_steps=6,
    )
    core.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(10):  # crosses an auto-reset
        before = core.positions
        if actions == "discrete":
            joint = rng.integers(0, 7, size=(2, agents))
        else:
            joint = rng.uniform(-np.pi / 4, np.pi / 4, size=(2, agents, 1)).astype(np.float32)
        *_, info = core.step(joint)
        positions, headings = core.positions, core.headings
        assert np.all(positions >= 0) and np.all(positions < box)
        for angles in (headings, core.aligned_angles):
            assert np.all(angles >= -np.pi) and np.all(angles < np.pi)
        moved = ~info.get("_final", np.zeros(2, dtype=bool))  # copies that did not just restart
        step = positions - before
        step -= box * np.round(step / box)  # the move, unwrapped across the boundary
        np.testing.assert_allclose(
            np.linalg.norm(step, axis=-1)[moved], speed, atol=1e-9 * max(box, 1)
        )
        direction = np.stack([np.cos(headings), np.sin(headings)], -1) * speed
        np.testing.assert_allclose(step[moved], direction[moved], atol=1e-9 * max(box, 1))
        order = core.order_parameter()
        assert np.all((order >= 0) & (order <= 1 + 1e-12))


def mean_order(noise: float, steps: int, seed: int, model: str = "vicsek") -> np.ndarray:
    """Per-copy order parameter of the Vicsek rule, averaged over the second half of a run."""
    core = envs.make_vec(f"swarming-{model}-v0", num_envs=4, noise=noise, max_episode_steps=steps)
    core.reset(seed=seed)
    orders = []
    for _ in range(steps - 1):  # stay inside the episode
        core.step(vicsek_actions(core))
        orders.append(core.order_parameter())
    return np.mean(orders[steps // 2 :], axis=0)


def test_zero_noise_vicsek_rule_orders_the_flock():
    """From random headings (order about 1/sqrt(N) = 0.1) to order above 0.95 within 150 steps."""
    for model in ("vicsek", "kuramoto"):
        order = mean_order(0.0, 150, seed=11, model=model)
        assert np.all(order > 0.95), (model, order)


def test_order_falls_as_noise_grows():
    """The Vicsek transition at density 4: each noise level is clearly less ordered than the last.

    Four copies per level; the margin (0.1) is several times the spread between copies.
    """
    levels = [0.5, 2.0, 3.5, 5.5]
    orders = [mean_order(eta, 200, seed=21) for eta in levels]
    means = [o.mean() for o in orders]
    for low_noise, high_noise in itertools.pairwise(orders):
        assert low_noise.min() > high_noise.max(), means
        assert low_noise.mean() - high_noise.mean() > 0.1, means
    assert means[0] > 0.9 and means[-1] < 0.3, means
