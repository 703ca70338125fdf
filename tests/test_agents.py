"""agents/: masked distributions, per-agent networks, critic inputs, standalone policies, evaluation."""

import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_envs import CoordinationCore, ReachCore, one_torch_thread  # noqa: F401  (autouse fixture)

from agents.critic_inputs import CentralInput, LocalInput, MeanFieldInput, make_critic_input
from agents.distributions import DiagGaussian, MaskedCategorical
from agents.networks import AgentGRUCell, AgentLinear, AgentNet
from agents.policy import Policy, PolicySpec
from algorithms.runs.evaluation import MarlEvalLog, evaluate, marl_eval_names


# ---------------------------------------------------------------------- distributions
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), actions=st.integers(2, 8), rows=st.integers(1, 16))
def test_masked_sampling_never_picks_a_masked_action(seed, actions, rows):
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, actions)) < 0.5
    mask[np.arange(rows), rng.integers(actions, size=rows)] = True  # at least one allowed
    logits = torch.tensor(rng.normal(scale=5.0, size=(rows, actions)), dtype=torch.float32)
    logits[torch.tensor(~mask)] += 50.0  # masked actions would be the favourites
    dist = MaskedCategorical(logits, torch.tensor(mask))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(20):
        sample = dist.sample(gen).numpy()
        assert mask[np.arange(rows), sample].all()
    assert mask[np.arange(rows), dist.mode().numpy()].all()
    probs = dist.probs.numpy()
    assert np.all(probs[~mask] == 0.0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert torch.isfinite(dist.entropy()).all()
    assert torch.isfinite(dist.log_prob(dist.mode())).all()


def test_masked_categorical_matches_torch_on_the_allowed_actions():
    logits = torch.tensor([[0.3, -1.0, 2.0, 0.5]], requires_grad=True)
    mask = torch.tensor([[True, False, True, True]])
    dist = MaskedCategorical(logits, mask)
    ref = torch.distributions.Categorical(logits=logits.detach()[:, [0, 2, 3]])
    assert dist.entropy().item() == pytest.approx(ref.entropy().item(), rel=1e-6)
    assert dist.log_prob(torch.tensor([2])).item() == pytest.approx(
        ref.log_prob(torch.tensor([1])).item(), rel=1e-6
    )
    (dist.entropy().sum() + dist.log_prob(torch.tensor([0])).sum()).backward()
    assert logits.grad[0, 1] == 0.0 and torch.isfinite(logits.grad).all()


def test_fully_masked_row_falls_back_to_all_actions():
    dist = MaskedCategorical(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.bool))
    np.testing.assert_allclose(dist.probs.numpy(), [[1 / 3] * 3], rtol=1e-6)


def test_sampling_frequencies_follow_the_probabilities():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(20000, 3)
    counts = np.bincount(
        MaskedCategorical(logits).sample(torch.Generator().manual_seed(0)).numpy(), minlength=3
    )
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.6, 0.3], atol=0.015)


def test_diag_gaussian_matches_torch_normal():
    mean, log_std = torch.tensor([[0.5, -1.0]]), torch.tensor([-0.3, 0.2])
    dist = DiagGaussian(mean, log_std)
    ref = torch.distributions.Normal(mean, log_std.exp())
    x = torch.tensor([[0.1, 0.4]])
    assert dist.log_prob(x).item() == pytest.approx(ref.log_prob(x).sum().item(), rel=1e-6)
    assert dist.entropy().item() == pytest.approx(ref.entropy().sum().item(), rel=1e-6)
    samples = DiagGaussian(mean.expand(20000, 2), log_std).sample(torch.Generator().manual_seed(1))
    np.testing.assert_allclose(samples.mean(0).numpy(), mean[0].numpy(), atol=0.03)
    np.testing.assert_allclose(samples.std(0).numpy(), log_std.exp().numpy(), atol=0.03)


# ---------------------------------------------------------------------- networks
def test_agent_linear_separate_parameters_equal_a_loop_over_agents():
    torch.manual_seed(0)
    layer = AgentLinear(5, 3, num_agents=4, shared=False)
    x = torch.randn(6, 4, 5)
    out = layer(x)
    for i in range(4):
        torch.testing.assert_close(
            out[:, i], torch.nn.functional.linear(x[:, i], layer.weight[i], layer.bias[i])
        )
    shared = AgentLinear(5, 3, num_agents=4, shared=True)
    torch.testing.assert_close(shared(x), x @ shared.weight.T + shared.bias)


def test_agent_gru_cell_equals_torch_gru_cell():
    torch.manual_seed(0)
    ours = AgentGRUCell(4, 6, num_agents=2, shared=True)
    ref = torch.nn.GRUCell(4, 6)
    with torch.no_grad():
        ref.weight_ih.copy_(ours.input_gates.weight)
        ref.bias_ih.copy_(ours.input_gates.bias)
        ref.weight_hh.copy_(ours.hidden_gates.weight)
        ref.bias_hh.copy_(ours.hidden_gates.bias)
    x, h = torch.randn(5, 2, 4), torch.randn(5, 2, 6)
    torch.testing.assert_close(ours(x, h), ref(x.reshape(10, 4), h.reshape(10, 6)).reshape(5, 2, 6))


@pytest.mark.parametrize("shared", [True, False])
def test_recurrent_sequence_replay_equals_step_by_step(shared):
    torch.manual_seed(0)
    net = AgentNet(3, 4, num_agents=2, hidden_size=8, shared=shared, recurrent=True)
    t_len, m = 6, 3
    x = torch.randn(t_len, m, 2, 3)
    starts = torch.rand(t_len, m) < 0.3
    h0 = torch.randn(m, 2, 8)
    seq_out, seq_h = net.forward_sequence(x, h0, starts)
    h, outs = h0, []
    for t in range(t_len):
        out, h = net(x[t], h, starts[t])
        outs.append(out)
    torch.testing.assert_close(seq_out, torch.stack(outs))
    torch.testing.assert_close(seq_h, h)


def test_fused_gru_sequence_equals_the_python_loop_with_gradients():
    """An uninterrupted shared-weight sequence takes torch's fused GRU; outputs, final state and
    gradients must equal stepping the same cell one step at a time."""
    torch.manual_seed(0)
    net = AgentNet(3, 4, num_agents=2, hidden_size=8, shared=True, recurrent=True)
    x, h0 = torch.randn(7, 3, 2, 3), torch.randn(3, 2, 8)
    starts = torch.zeros(7, 3, dtype=torch.bool)
    starts[0, 1] = True  # a start at the first step only still runs fused (that copy from zero)
    fused_out, fused_h = net.forward_sequence(x, h0, starts)
    fused_out.square().sum().backward()
    fused_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    h, outs = h0, []
    for t in range(7):
        out, h = net(x[t], h, starts[t])
        outs.append(out)
    torch.stack(outs).square().sum().backward()
    torch.testing.assert_close(fused_out, torch.stack(outs))
    torch.testing.assert_close(fused_h, h)
    for fused, looped in zip(fused_grads, (p.grad for p in net.parameters())):
        torch.testing.assert_close(fused, looped)


def test_agent_id_lets_a_shared_network_tell_agents_apart():
    torch.manual_seed(0)
    with_id = AgentNet(3, 2, num_agents=2, agent_id=True)
    without = AgentNet(3, 2, num_agents=2, agent_id=False)
    x = torch.ones(1, 2, 3)  # identical observations
    out_with, _ = with_id(x)
    out_without, _ = without(x)
    assert not torch.allclose(out_with[0, 0], out_with[0, 1])
    torch.testing.assert_close(out_without[0, 0], out_without[0, 1])


def test_agent_net_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        AgentNet(3, 2, 2, activation="gelu")
    with pytest.raises(ValueError, match="layers"):
        AgentNet(3, 2, 2, layers=0)


# ---------------------------------------------------------------------- critic inputs
def test_critic_inputs_shapes_and_contents():
    env = CoordinationCore(3, num_agents=4, num_actions=3)
    env.reset(seed=0)
    obs = torch.as_tensor(env._observe())
    state = torch.as_tensor(env.state())
    local = make_critic_input("local", env)
    assert (
        isinstance(local, LocalInput)
        and local.dim == 3
        and torch.equal(local.build(obs, None, None), obs)
    )
    central = make_critic_input("central", env)
    assert isinstance(central, CentralInput) and central.uses_state and central.dim == 4
    built = central.build(obs, state, None)
    assert built.shape == (3, 4, 4) and all(torch.equal(built[:, i], state) for i in range(4))
    mf = make_critic_input("mean_field", env)
    assert isinstance(mf, MeanFieldInput) and mf.uses_actions and mf.dim == 6
    actions = np.array([[0, 1, 2, 2], [0, 0, 0, 0], [1, 1, 2, 0]])
    nbr = mf.neighbour_actions(env, actions)
    # the default neighbourhood: everyone else, so agent 0 of copy 0 sees actions 1, 2, 2
    np.testing.assert_allclose(nbr[0, 0], [0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(nbr[1].sum(-1), 1.0)
    assert mf.build(obs, None, torch.as_tensor(nbr)).shape == (3, 4, 6)
    with pytest.raises(ValueError, match="choose one of"):
        make_critic_input("global", env)


def test_central_critic_falls_back_to_all_observations_without_a_state():
    env = CoordinationCore(2, num_agents=3)
    env.state_space = None
    central = CentralInput(env)
    assert not central.uses_state and central.dim == 9
    obs = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3)
    built = central.build(obs, None, None)
    assert built.shape == (2, 3, 9) and torch.equal(built[1, 2], obs[1].reshape(-1))


# ---------------------------------------------------------------------- policies
@pytest.mark.parametrize("recurrent", [False, True])
def test_policy_save_load_round_trip(tmp_path, recurrent):
    env = CoordinationCore(4, masked=True)
    obs, _ = env.reset(seed=0)
    torch.manual_seed(0)
    policy = Policy(
        PolicySpec.for_env(env, hidden_size=16, recurrent=recurrent, share_parameters=False)
    )
    path = tmp_path / "policy.pt"
    policy.save(path, {"env_id": "toy", "kwargs": {"size": (1, 2)}})
    assert not os.path.exists(f"{path}.tmp")
    loaded = Policy.load(path)
    assert loaded.metadata == {"env_id": "toy", "kwargs": {"size": [1, 2]}}
    for a, b in zip(policy.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    actions, hidden = policy.act(obs, env.action_mask())
    again, _ = loaded.act(obs, env.action_mask())
    assert actions.shape == (4, 2) and actions.dtype == np.int64 and np.array_equal(actions, again)
    assert (actions != 2).all()  # the masked action
    assert (hidden is not None) == recurrent


def test_policy_load_refuses_other_files(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"something": 1}, bad)
    with pytest.raises(ValueError, match="not a marlgym policy"):
        Policy.load(bad)
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable marlgym policy"):
        Policy.load(bad)


def test_gaussian_policy_actions_stay_inside_the_box():
    env = ReachCore(8)
    obs, _ = env.reset(seed=0)
    policy = Policy(PolicySpec.for_env(env, init_log_std=2.0))
    actions, _ = policy.act(obs, greedy=False, generator=torch.Generator().manual_seed(0))
    assert actions.shape == (8, 2, 2) and actions.dtype == np.float32
    assert actions.min() >= -1.0 and actions.max() <= 1.0
    assert np.any(np.abs(actions) == 1.0)  # wide noise gets clipped


# ---------------------------------------------------------------------- evaluation
def test_evaluate_plays_exactly_e_episodes_with_distinct_seeds():
    calls = []

    def act(obs, mask, state, hidden):
        calls.append(obs.shape[0])
        return np.argmax(obs, axis=-1), hidden  # the optimal policy

    results = evaluate(
        act, lambda b: CoordinationCore(b, length=4), episodes=10, seed=3, max_copies=4
    )
    assert len(results["return"]) == 10 and set(calls) == {4, 2}
    np.testing.assert_allclose(results["return"], 2.0)  # 2 agents x 1 per episode
    np.testing.assert_allclose(results["length"], 4)
    np.testing.assert_allclose(results["success_rate"], 1.0)
    random = evaluate(
        lambda o, m, s, h: (np.zeros(o.shape[:2], dtype=np.int64), h),
        lambda b: CoordinationCore(b, length=4),
        episodes=10,
        seed=3,
    )
    assert np.mean(random["return"]) < 1.5


def test_marl_eval_log_layout(tmp_path):
    path = tmp_path / "eval.json"
    log = MarlEvalLog(path, "Foraging-8x8-2p-2f-coop-v3", {}, "ippo", seed=2)
    log.add_step(0, {"return": [0.0, 0.5]})
    log.add_step(1000, {"return": [1.0, 1.0]})
    log.add_step(1000, {"return": [0.9, 1.0]})  # the same point again replaces it
    log.set_absolute({"return": [1.0] * 4})
    data = json.loads(path.read_text())
    run = data["Foraging"]["8x8-2p-2f-coop-v3"]["ippo"]["seed_2"]
    assert run["step_0"] == {"step_count": 0, "return": [0.0, 0.5]}
    assert run["step_1"] == {"step_count": 1000, "return": [0.9, 1.0]}
    assert run["absolute_metrics"] == {"return": [1.0] * 4}
    reopened = MarlEvalLog(path, "Foraging-8x8-2p-2f-coop-v3", {}, "ippo", seed=2)
    reopened.truncate(500)
    assert list(reopened.runs) == ["step_0"]
    assert marl_eval_names("toy", {"b": 1, "a": 2}) == ("toy", "toy[a=2,b=1]")


def test_a_mean_action_policy_carries_the_others_mean_action_and_saves(tmp_path):
    """MF-Q's standalone policy: its net sees obs + the others' previous mean one-hot action
    (uniform at an episode's start, and again where ``starts`` says a new episode began)."""
    policy = Policy(PolicySpec(4, 3, "discrete", 5, mean_action_input=True))
    obs = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    actions, mean = policy.act(obs)
    onehot = np.eye(5)[actions]
    np.testing.assert_allclose(mean.numpy(), (onehot.sum(1, keepdims=True) - onehot) / 2)
    first = policy.net(torch.cat([torch.as_tensor(obs), torch.full((2, 3, 5), 0.2)], -1))[0]
    assert np.array_equal(actions, first.argmax(-1).numpy())
    again, _ = policy.act(obs, hidden=mean, starts=np.array([True, True]))
    assert np.array_equal(again, actions)  # a new episode: the uniform mean again
    policy.save(tmp_path / "p.pt")
    loaded = Policy.load(tmp_path / "p.pt")
    assert loaded.spec.mean_action_input and np.array_equal(loaded.act(obs)[0], actions)
    with pytest.raises(ValueError, match="mean_action_input needs discrete actions"):
        PolicySpec(4, 3, "discrete", 5, recurrent=True, mean_action_input=True)
