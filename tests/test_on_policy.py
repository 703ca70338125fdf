"""The shared on-policy pieces against naive Python loops: GAE, value normalisation, PPO loss."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.on_policy import (
    RolloutBuffer,
    ValueNorm,
    compute_gae,
    explained_variance,
    ppo_losses,
    weighted_mean,
)


def naive_gae(rewards, values, dones, last_values, gamma, lam):
    """Per (copy, agent) series, walking back through time one scalar at a time."""
    t_len = rewards.shape[0]
    flat_r = rewards.reshape(t_len, -1)
    flat_v = values.reshape(t_len, -1)
    flat_d = dones.reshape(t_len, -1)
    flat_last = last_values.reshape(-1)
    adv = np.zeros_like(flat_r)
    for k in range(flat_r.shape[1]):
        running = 0.0
        for t in reversed(range(t_len)):
            next_value = flat_last[k] if t == t_len - 1 else flat_v[t + 1, k]
            if flat_d[t, k]:
                delta = flat_r[t, k] - flat_v[t, k]
                running = delta
            else:
                delta = flat_r[t, k] + gamma * next_value - flat_v[t, k]
                running = delta + gamma * lam * running
            adv[t, k] = running
    return adv.reshape(rewards.shape), (adv + flat_v).reshape(rewards.shape)


@settings(max_examples=40, deadline=None)
@given(
    t_len=st.integers(1, 12),
    b=st.integers(1, 3),
    n=st.integers(1, 3),
    gamma=st.floats(0.0, 1.0),
    lam=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_gae_matches_naive_loop(t_len, b, n, gamma, lam, seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(t_len, b, n))
    values = rng.normal(size=(t_len, b, n))
    dones = rng.random((t_len, b, n)) < 0.3
    last = rng.normal(size=(b, n))
    adv, ret = compute_gae(
        torch.tensor(rewards),
        torch.tensor(values),
        torch.tensor(dones),
        torch.tensor(last),
        gamma,
        lam,
    )
    want_adv, want_ret = naive_gae(rewards, values, dones, last, gamma, lam)
    np.testing.assert_allclose(adv.numpy(), want_adv, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret.numpy(), want_ret, rtol=1e-10, atol=1e-10)


def test_gae_with_lambda_one_and_no_dones_is_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [0.25], [0.125]])
    last = torch.tensor([4.0])
    adv, ret = compute_gae(rewards, values, torch.zeros(3, 1), last, gamma=0.5, lam=1.0)
    discounted = [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 4, 2 + 0.5 * 3 + 0.25 * 4, 3 + 0.5 * 4]
    np.testing.assert_allclose(ret.squeeze(1).numpy(), discounted)
    np.testing.assert_allclose(
        adv.squeeze(1).numpy(), np.array(discounted) - values.squeeze(1).numpy()
    )


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
    scale=st.floats(0.01, 100.0),
)
def test_value_norm_statistics_equal_those_of_all_targets_seen(sizes, seed, scale):
    rng = np.random.default_rng(seed)
    batches = [rng.normal(loc=3.0, scale=scale, size=s) for s in sizes]
    norm = ValueNorm()
    for batch in batches:
        norm.update(torch.tensor(batch, dtype=torch.float32))
    everything = np.concatenate([b.astype(np.float32) for b in batches]).astype(np.float64)
    assert norm.count.item() == everything.size
    np.testing.assert_allclose(norm.mean.item(), everything.mean(), rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(norm.var.item(), everything.var(), rtol=1e-7, atol=1e-9 * scale**2)


def test_value_norm_round_trip_and_state_dict():
    norm = ValueNorm()
    norm.update(torch.tensor([1.0, 2.0, 3.0, 10.0]))
    x = torch.tensor([0.0, 5.0, -2.0])
    np.testing.assert_allclose(norm.denormalize(norm.normalize(x)).numpy(), x.numpy(), atol=1e-5)
    expected = (x.double() - 4.0) / math.sqrt(np.var([1, 2, 3, 10]) + 1e-5)
    np.testing.assert_allclose(norm.normalize(x).numpy(), expected.numpy(), rtol=1e-6)
    other = ValueNorm()
    other.load_state_dict(norm.state_dict())
    assert torch.equal(other.normalize(x), norm.normalize(x))
    norm.update(torch.tensor([]))  # an empty batch changes nothing
    assert norm.count.item() == 4


def test_ppo_losses_match_elementwise_definition():
    rng = np.random.default_rng(0)
    shape = (7, 3)
    new_lp, old_lp, adv, ent, new_v, old_v, ret = (
        torch.tensor(rng.normal(size=shape) * 0.3) for _ in range(7)
    )
    weights = torch.tensor(rng.random(shape) < 0.7, dtype=torch.float64)
    clip = 0.2
    out = ppo_losses(
        new_lp, old_lp, adv, ent, new_v, old_v, ret, clip, clip_value=True, weights=weights
    )
    pg, vl, en, kl, cf, count = 0.0, 0.0, 0.0, 0.0, 0.0, 0
    new_lp, old_lp, adv, ent, new_v, old_v, ret, weights = (
        x.numpy() for x in (new_lp, old_lp, adv, ent, new_v, old_v, ret, weights)
    )
    for i in range(shape[0]):
        for j in range(shape[1]):
            if not weights[i, j]:
                continue
            ratio = math.exp(new_lp[i, j] - old_lp[i, j])
            a = float(adv[i, j])
            pg += max(-a * ratio, -a * min(max(ratio, 1 - clip), 1 + clip))
            v_clipped = old_v[i, j] + min(max(new_v[i, j] - old_v[i, j], -clip), clip)
            vl += max((new_v[i, j] - ret[i, j]) ** 2, (v_clipped - ret[i, j]) ** 2)
            en += float(ent[i, j])
            kl += (ratio - 1) - math.log(ratio)
            cf += abs(ratio - 1) > clip
            count += 1
    assert out["policy_loss"].item() == pytest.approx(pg / count, rel=1e-9)
    assert out["value_loss"].item() == pytest.approx(0.5 * vl / count, rel=1e-9)
    assert out["entropy"].item() == pytest.approx(en / count, rel=1e-9)
    assert out["approx_kl"].item() == pytest.approx(kl / count, rel=1e-9)
    assert out["clipfrac"].item() == pytest.approx(cf / count, rel=1e-9)


def test_ppo_policy_gradient_vanishes_outside_the_clip_range():
    old = torch.zeros(2)
    new = torch.tensor([0.5, -0.5], requires_grad=True)  # ratios e^0.5 > 1.2 and e^-0.5 < 0.8
    adv = torch.tensor([1.0, -1.0])  # both pushed further out of the range: clipped
    out = ppo_losses(
        new, old, adv, torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.2
    )
    out["policy_loss"].backward()
    assert torch.all(new.grad == 0)


def test_weighted_mean_ignores_zero_weights_and_empty_weights():
    x = torch.tensor([1.0, 100.0, 3.0])
    assert weighted_mean(x, torch.tensor([1.0, 0.0, 1.0])).item() == 2.0
    assert weighted_mean(x, torch.zeros(3)).item() == 0.0
    assert weighted_mean(x, None).item() == pytest.approx(104 / 3)


def test_rollout_buffer_stores_numpy_and_tensors_by_row():
    buf = RolloutBuffer(3, {"a": ((2, 2), torch.float32), "d": ((2,), torch.bool)})
    buf.store(1, a=np.ones((2, 2)), d=np.array([True, False]))
    buf.store(2, a=torch.full((2, 2), 2.0))
    assert buf["a"][0].sum() == 0 and buf["a"][1].sum() == 4 and buf["a"][2].sum() == 8
    assert buf["d"][1].tolist() == [True, False] and "d" in buf and "x" not in buf


def test_explained_variance():
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y, y) == 1.0
    assert explained_variance(torch.full((4,), 2.5), y) == pytest.approx(0.0)
    assert math.isnan(explained_variance(y, torch.ones(4)))
