"""The public hooks a controller (MANSA) drives learners through, and the config builder."""

import numpy as np
import pytest
import torch
from toy_envs import CoordinationCore, one_torch_thread  # noqa: F401  (autouse fixture)

from agents.networks import NetConfig
from algorithms import get_algorithm
from algorithms.config import build_config, nested
from algorithms.on_policy import (
    compute_gae,
    next_episode_flags,
    normalise_advantages,
    ppo_losses,
)

FAST_PPO = {"rollout_length": 6, "epochs": 2, "minibatches": 2, "net.hidden_size": 16}


def ppo(name, env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm(name)
    return learner_cls(build_config(config_cls, FAST_PPO, overrides), env, "cpu", seed)


# ---------------------------------------------------------------------- algorithms/config.py
def test_build_config_applies_layers_in_order_nested_or_dotted():
    config_cls, _ = get_algorithm("iql")
    cfg = build_config(config_cls, {"lr": 0.1, "net": {"hidden_size": 8}}, {"net.layers": 3})
    assert cfg.lr == 0.1 and (cfg.net.hidden_size, cfg.net.layers) == (8, 3)
    assert cfg.net.feature_norm  # the value learners' own network default survives
    assert not build_config(get_algorithm("ippo")[0]).net.feature_norm  # PPO's differs
    later = build_config(config_cls, {"lr": 0.1}, {"lr": 0.2})
    assert later.lr == 0.2
    assert nested({"a.b": 1, "a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize(
    ("layer", "prefix", "message"),
    [
        (
            {"net": {"hiden_size": 3}},
            "algo",
            r"unknown config key 'algo.net.hiden_size' for ippo; did you mean 'algo.net.hidden_size'",
        ),
        ({"clip": 0.1}, "algo", r"unknown config key 'algo.clip' for ippo; did you mean"),
        ({"lr": "fast"}, "algo.il_cfg", r"config key 'algo.il_cfg.lr' for ippo expects float"),
        ({"epochs": 1.5}, "algo", r"config key 'algo.epochs' for ippo expects int"),
        ({"net.layers": 0}, "algo.il_cfg", r"algo.il_cfg.net.layers must be > 0"),
        ({"net.activation": "gelu"}, "algo", r"algo.net.activation must be one of"),
    ],
)
def test_build_config_errors_name_the_key(layer, prefix, message):
    with pytest.raises(ValueError, match=message):
        build_config(get_algorithm("ippo")[0], layer, prefix=prefix)


def test_net_config_checks_its_ranges_with_the_prefix_given():
    NetConfig().check("x")
    with pytest.raises(ValueError, match=r"algo.switcher.net.hidden_size must be > 0"):
        NetConfig(hidden_size=0).check("algo.switcher.net")


# ---------------------------------------------------------------------- on-policy pieces
def test_next_episode_flags_match_a_naive_loop():
    rng = np.random.default_rng(0)
    for _ in range(20):
        done = rng.random((5, 3)) < 0.3
        terminated, truncated = rng.random((5, 3)) < 0.2, rng.random((5, 3)) < 0.1
        final = rng.random(5) < 0.4
        starts, after = next_episode_flags(done.copy(), terminated, truncated, {"_final": final})
        for b in range(5):
            assert starts[b] == final[b]
            for n in range(3):
                expect = False if final[b] else (done[b, n] or terminated[b, n] or truncated[b, n])
                assert after[b, n] == expect
    starts, _ = next_episode_flags(done, terminated, truncated, {})
    assert not starts.any()


def test_normalise_advantages_over_the_weighted_entries_only():
    adv = torch.tensor([1.0, 3.0, 100.0, 5.0])
    weights = torch.tensor([1.0, 1.0, 0.0, 1.0])
    out = normalise_advantages(adv, weights)
    kept = torch.tensor([1.0, 3.0, 5.0])
    want = (kept - kept.mean()) / (kept.var(unbiased=False).sqrt() + 1e-8)
    torch.testing.assert_close(out[weights.bool()], want)
    one = torch.tensor([0.0, 1.0, 0.0, 0.0])
    assert torch.equal(normalise_advantages(adv, one), adv)  # fewer than two: unchanged


def test_ppo_losses_value_loss_may_weigh_every_entry():
    args = [torch.randn(6, generator=torch.Generator().manual_seed(i)) for i in range(7)]
    weights = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    new_v, returns = args[4], args[6]
    weighed = ppo_losses(*args, 0.2, weights=weights)
    every = ppo_losses(*args, 0.2, weights=weights, weigh_values=False)
    torch.testing.assert_close(every["value_loss"], 0.5 * (new_v - returns).pow(2).mean())
    assert not torch.allclose(weighed["value_loss"], every["value_loss"])
    torch.testing.assert_close(weighed["policy_loss"], every["policy_loss"])


# ---------------------------------------------------------------------- PPO controller hooks
def drive(learner, env, learn=None):
    """One rollout through the hooks, as a controller would; returns the last values."""
    obs, _ = env.reset(seed=learner.seed)
    b, n = env.num_envs, env.num_agents
    starts, done = np.ones(b, dtype=bool), np.zeros((b, n), dtype=bool)
    for t in range(learner.buffer.length):
        mask, state = env.action_mask(), env.state()
        actions = learner.behaviour_actions(obs, mask)
        step = env.step(actions)
        own = np.ones(b, dtype=bool) if learn is None else learn
        learner.record_step(t, obs, mask, state, actions, step, starts, done, own)
        starts, done = next_episode_flags(done, *step[2:])
        obs = step[0]
    return learner.rollout_values(obs, env.state(), starts)


@pytest.mark.parametrize("name", ["ippo", "mappo"])
def test_ppo_hooks_reproduce_the_learners_own_rollout_and_update(name):
    """behaviour_actions + record_step + rollout_values + update_from_rollout, every copy learning,
    are the learner's own _collect and update bit for bit."""
    own = ppo(name, CoordinationCore(3, length=4, masked=True), seed=5)
    hooked = ppo(name, CoordinationCore(3, length=4, masked=True), seed=5)
    last_own = own._collect()
    last_hooked = drive(hooked, CoordinationCore(3, length=4, masked=True))
    assert torch.equal(last_own, last_hooked) and own.env_steps == hooked.env_steps
    for key, value in own.buffer.data.items():
        assert torch.equal(value, hooked.buffer[key]), key
    assert own.update_from_rollout(last_own) == hooked.update_from_rollout(last_hooked)
    for a, b in zip(own.actor.parameters(), hooked.actor.parameters(), strict=True):
        assert torch.equal(a, b)


def test_ppo_record_step_learns_only_where_asked():
    learner = ppo("mappo", CoordinationCore(4, length=5))
    learn = np.array([True, False, True, False])
    drive(learner, CoordinationCore(4, length=5), learn)
    active = learner.buffer["active"]
    assert (active[:, ~learn] == 0).all() and (active[:, learn] == 1).all()
    assert (learner.buffer["values"] != 0).all()  # values on every step, whoever acted


def test_ppo_rollout_advantages_are_gae_over_the_buffer():
    learner = ppo("ippo", CoordinationCore(3, length=4))
    last = drive(learner, CoordinationCore(3, length=4))
    data, cfg = learner.buffer, learner.cfg
    expected, _ = compute_gae(
        data["rewards"], data["values"], data["dones"], last, cfg.gamma, cfg.gae_lambda
    )
    assert torch.equal(learner.rollout_advantages(last), expected)


def test_ppo_share_actor_makes_one_policy_with_two_critics():
    local, central = ppo("ippo", CoordinationCore(3)), ppo("mappo", CoordinationCore(3))
    central.share_actor(local)
    assert central.actor is local.actor and central.generator is local.generator
    shared = {id(p) for p in local.actor.parameters()}
    assert shared <= {id(p) for p in central.params}
    assert not shared & {id(p) for p in central.critic.parameters()}
    group = central.optimizer.param_groups[0]["params"]
    assert [id(p) for p in group] == [id(p) for p in central.params]


def test_ppo_imitation_raises_the_likelihood_of_the_given_actions():
    def run(coef):
        learner = ppo("ippo", CoordinationCore(3, length=4), ent_coef=0.0)
        last = drive(learner, CoordinationCore(3, length=4), np.zeros(3, dtype=bool))
        learner.buffer["actions"][:] = 1  # "another policy's" actions, on every entry
        weights = torch.ones_like(learner.buffer["values"])
        metrics = learner.update_from_rollout(last, (weights, coef) if coef else None)
        obs = learner.buffer["obs"].flatten(0, 1)
        with torch.no_grad():
            dist, _ = learner.actor.distribution(obs, learner.buffer["mask"].flatten(0, 1))
        return float(dist.probs[..., 1].mean()), metrics

    (cloned, metrics), (plain, plain_metrics) = run(1.0), run(0.0)
    assert "losses/transfer_loss" in metrics and "losses/transfer_loss" not in plain_metrics
    assert cloned > plain + 0.02  # 4 Adam steps at lr 3e-3 on the clone term alone


@pytest.mark.parametrize(("name", "overrides"), [("ippo", {"net.recurrent": True}), ("mfac", {})])
def test_ppo_hooks_refuse_recurrent_nets_and_mean_field_critics(name, overrides):
    env = CoordinationCore(2)
    learner = ppo(name, env, **overrides)
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="controller hooks need a feed-forward network"):
        learner.behaviour_actions(obs, env.action_mask())


# ---------------------------------------------------------------------- value controller hooks
@pytest.mark.parametrize(
    ("name", "key"), [("iql", "charts/epsilon"), ("mfq", "charts/temperature")]
)
def test_exploration_metrics_report_the_schedule_now(name, key):
    config_cls, learner_cls = get_algorithm(name)
    cfg = build_config(config_cls, {"net.hidden_size": 8, "batch_size": 2, "buffer_size": 8})
    learner = learner_cls(cfg, CoordinationCore(2), "cpu", 0)
    start = learner.exploration_metrics()[key]
    learner.env_steps = 10**7
    assert learner.exploration_metrics()[key] < start


def value(name, env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm(name)
    small = {"net.hidden_size": 8, "batch_size": 2, "buffer_size": 8, "env_steps_per_update": 4.0}
    return learner_cls(build_config(config_cls, small, overrides), env, "cpu", seed)


@pytest.mark.parametrize("recurrent", [False, True])
def test_value_hooks_reproduce_the_learners_own_collection(recurrent):
    """behaviour_actions + record_step over every copy are the learner's own _collect bit for bit,
    a GRU's state included (reset where episodes end)."""
    own = value(
        "iql", CoordinationCore(3, length=4, masked=True), 5, **{"net.recurrent": recurrent}
    )
    hooked = value(
        "iql", CoordinationCore(3, length=4, masked=True), 5, **{"net.recurrent": recurrent}
    )
    env = hooked.env
    for _ in range(3):
        own._collect()
        for _ in range(hooked.cfg.rollout_length):
            obs = hooked._obs.reshape(env.num_envs, env.num_agents, -1)
            mask = env.action_mask()
            actions = hooked.behaviour_actions(obs, mask)
            step = env.step(actions)
            hooked.record_step(obs, mask, None, actions, *step)
            hooked._obs = step[0]
    assert own.env_steps == hooked.env_steps and len(own.replay) == len(hooked.replay) > 0
    assert torch.equal(own._hidden, hooked._hidden)
    if recurrent:
        assert own._hidden.abs().sum() > 0


def test_a_recurrent_value_learner_follows_every_copy_whoever_acts():
    """With ``rows``, a GRU still advances on every copy (its state is that of acting on all of
    them); a feed-forward net returns the same actions for the rows as on those copies alone."""
    env = CoordinationCore(4, length=6)
    every = value("iql", env, 1, **{"net.recurrent": True})
    some = value("iql", CoordinationCore(4, length=6), 1, **{"net.recurrent": True})
    obs, _ = env.reset(seed=0)
    obs = obs.reshape(4, env.num_agents, -1)
    mask = env.action_mask()
    every.behaviour_actions(obs, mask)
    actions = some.behaviour_actions(obs, mask, np.array([1, 3]))
    assert actions.shape == (2, env.num_agents)
    assert torch.equal(every._hidden, some._hidden) and every._hidden.abs().sum() > 0
    assert some.behaviour_actions(obs, mask, np.array([], dtype=np.int64)).shape == (0, 2)
    feed = value("iql", env, 1, **{"epsilon_start": 0.0, "epsilon_finish": 0.0})
    assert np.array_equal(
        feed.behaviour_actions(obs, mask, np.array([0, 2])),
        feed.behaviour_actions(obs[[0, 2]], mask[[0, 2]]),
    )
