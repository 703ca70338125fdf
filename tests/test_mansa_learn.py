"""MANSA's switch=learn (the switcher picks the learning rule) and switch=act's CL-to-IL transfer."""

import copy

import numpy as np
import pytest
import torch
from mansa_helpers import same_parameters, straight_and_resumed
from toy_envs import CoordinationCore

import envs
from algorithms import get_algorithm
from algorithms.config import build_config
from algorithms.ippo import IPPOConfig, IPPOLearner
from algorithms.iql import IQLLearner
from algorithms.mansa import MANSAConfig, MANSALearner, SwitcherConfig
from algorithms.mansa import config as mansa_config
from algorithms.mansa.learn_value import RuleSwitchValue
from algorithms.runs.evaluation import evaluate
from train import ConfigError, load_config

FORAGING = "Foraging-5x5-2p-1f-coop-v3"
SMALL_Q = {
    "net": {"hidden_size": 16},
    "batch_size": 4,
    "buffer_size": 64,
    "env_steps_per_update": 8.0,
}
SMALL_PPO = {"net": {"hidden_size": 16}, "epochs": 2, "minibatches": 2}
VALUE_PAIRS = [("iql", "qmix"), ("iql", "vdn")]
PAIRS = [*VALUE_PAIRS, ("ippo", "mappo")]


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def learn(env, seed=0, il="iql", cl="qmix", switcher=None, sub=None, **overrides):
    """MANSA with switch=learn and small networks (value pairing: the one learner takes cl_cfg)."""
    small = {**(SMALL_Q if il == "iql" else SMALL_PPO), **(sub or {})}
    switcher = build_config(
        SwitcherConfig, {"net": {"hidden_size": 16}, "epochs": 2}, switcher or {}
    )
    settings = {"cost": 0.5, "budget": None, "rollout_length": 8}
    cfg = MANSAConfig(
        il=il,
        cl=cl,
        switch="learn",
        il_cfg={} if il == "iql" else dict(small),
        cl_cfg=dict(small),
        switcher=switcher,
        **{**settings, **overrides},
    )
    return MANSALearner(cfg, env, "cpu", seed)


def alone(name, env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm(name)
    small = SMALL_Q if name in ("iql", "qmix", "vdn") else SMALL_PPO
    return learner_cls(build_config(config_cls, small, overrides), env, "cpu", seed)


def agents(learner, il):
    """The acting agent networks of a MANSA switch=learn run (or a learner alone)."""
    inner = learner.il.learner if isinstance(learner, MANSALearner) else learner
    return inner.q_net if il == "iql" else inner.actor


def test_learn_takes_q_learning_targets_unless_told_otherwise():
    """switch=act's in-sample CL targets guard a CL fed by IQL's steps; with switch=learn the one
    learner acts everywhere, so its default targets are Q-learning's (an explicit choice holds)."""
    assert MANSAConfig().cl_config.bootstrap == "taken"
    assert MANSAConfig(switch="learn").cl_config.bootstrap == "greedy"
    assert MANSAConfig(switch="learn", cl_bootstrap="taken").cl_config.bootstrap == "taken"
    cfg = load_config(None, ["algo=mansa", "algo.switch=learn"])
    assert cfg.algo.cl_config.bootstrap == "greedy"
    env = envs.make_vec(FORAGING, 2)
    assert learn(env).il.learner.cfg.bootstrap == "greedy"
    with pytest.raises(ConfigError, match="cl_bootstrap must be one of"):
        load_config(None, ["algo=mansa", "algo.switch=learn", "algo.cl_bootstrap=sarsa"])


# ---------------------------------------------------------------------- the two extremes
@pytest.mark.parametrize(("il", "cl"), PAIRS)
def test_learn_with_no_calls_is_il_alone_bit_for_bit(il, cl):
    learner = learn(CoordinationCore(4, length=5), 3, il=il, cl=cl, switcher={"mode": "il"})
    reference = alone(il, CoordinationCore(4, length=5), 3, rollout_length=learner.length)
    for _ in range(6):
        metrics = learner.train_iteration()
        reference.train_iteration()
        assert metrics["mansa/cl_fraction"] == 0.0 and metrics["mansa/cl_update_share"] == 0.0
    assert same_parameters(agents(learner, il), agents(reference, il))
    if il == "iql":
        assert learner.il.learner.gradient_updates == reference.gradient_updates > 0
        assert learner.il.learner.rule_steps["central"] == 0
    else:
        assert same_parameters(learner.il.learner.critic, reference.critic)
        assert learner.il.cl.learner.updates == 0  # the central critic served no step


@pytest.mark.parametrize(("il", "cl"), PAIRS)
def test_learn_with_every_step_called_is_cl_alone_bit_for_bit(il, cl):
    learner = learn(
        CoordinationCore(4, length=5), 5, il=il, cl=cl, cost=0.0, switcher={"mode": "cl"}
    )
    reference = alone(cl, CoordinationCore(4, length=5), 5, rollout_length=learner.length)
    for _ in range(6):
        metrics = learner.train_iteration()
        reference.train_iteration()
        assert metrics["mansa/cl_fraction"] == 1.0 and metrics["mansa/cl_update_share"] == 1.0
    assert learner.cl_calls == learner.env_steps
    assert same_parameters(agents(learner, il), agents(reference, il))
    if il == "iql":  # CL's mixer over IL's agents, as the CL learner alone
        assert same_parameters(learner.il.learner.mixer, reference.mixer)
        assert learner.il.learner.rule_steps["independent"] == 0
    else:  # the central critic, sharing IL's actor
        assert learner.il.cl.learner.actor is learner.il.learner.actor
        assert same_parameters(learner.il.cl.learner.critic, reference.critic)
    # evaluation: IL's agents act (there is nothing to switch when nothing is learned)
    env = CoordinationCore(3)
    obs, _ = env.reset(seed=0)
    _, memory = learner.act(obs, env.action_mask(), env.state())
    assert not memory.cl.any()


# ---------------------------------------------------------------------- calls, budget, cost
@pytest.mark.parametrize(("il", "cl"), PAIRS)
@pytest.mark.parametrize("scope", ["episode", "run"])
def test_learn_keeps_to_the_budget_and_calls_count_centralised_updates(il, cl, scope):
    env = CoordinationCore(4, length=5)
    learner = learn(
        env, 1, il=il, cl=cl, cost=0.0, budget=2, budget_scope=scope, switcher={"init_cl_prob": 0.6}
    )
    calls = 0
    for _ in range(4):
        metrics = learner.train_iteration()
        rollout = learner.rollout_calls  # [T, B] the rollout's calls, as the learners saw them
        calls += int(rollout.sum())
        if il == "ippo":  # MAPPO's losses weigh exactly the called steps (no agent leaves early)
            served = learner.il.cl.learner.buffer["active"].bool().all(-1).numpy()
            assert np.array_equal(served, rollout)
        if scope == "episode" and "mansa/episode_cl_calls_max" in metrics:
            assert metrics["mansa/episode_cl_calls_max"] <= 2
    assert calls == learner.cl_calls > 0
    if scope == "run":
        assert learner.cl_calls <= 2
    if il == "iql":  # the replay holds every step, each with its call
        replay, writer = learner.il.learner.replay, learner.il.learner.writer
        stored = replay.data["called"][: len(replay)].sum()
        in_progress = sum(writer.data["called"][b, :t].sum() for b, t in enumerate(writer.t))
        assert int(stored + in_progress) == learner.cl_calls
        steps = learner.il.learner.rule_steps
        assert 0 < steps["central"] < steps["independent"]
        assert metrics["mansa/cl_update_share"] == steps["central"] / sum(steps.values())


def test_learn_prohibitive_cost_stops_the_calls():
    env = CoordinationCore(16, length=5)
    learner = learn(
        env,
        0,
        cost=50.0,
        switcher={"lr": 3e-3, "epochs": 4, "explore": 0.0},
        sub={"env_steps_per_update": 500.0},
    )
    first = learner.train_iteration()["mansa/cl_fraction"]
    fractions = [learner.train_iteration()["mansa/cl_fraction"] for _ in range(30)]
    assert first > 0.3 and np.mean(fractions[-10:]) < 0.01


@pytest.mark.parametrize(("il", "cl"), PAIRS)
def test_learn_pays_the_switcher_the_rule_disagreement_minus_the_cost(il, cl):
    learner = learn(CoordinationCore(4, length=5), 2, il=il, cl=cl, cost=0.25)
    for _ in range(3):
        learner.train_iteration()
    learner.train_iteration()
    # replay the last payment: rewards at uncalled steps carry only time-limit bootstraps
    rewards = learner.switcher.buffer["rewards"].numpy()
    calls = learner.rollout_calls
    assert np.isfinite(rewards).all()
    assert calls.any() and (~calls).any()
    assert learner.signal_norm.count == 4 * learner.length * 4


def test_value_disagreement_is_the_per_agent_gap_of_td_errors_vdn():
    """VDN: dQ_tot/dQ_i = 1, so the signal is mean_i |delta_tot - delta_i| (a naive loop here)."""
    learner = learn(CoordinationCore(2, length=5), 0, cl="vdn", sub={"scale_rewards": False})
    rule = learner.il.learner
    learner.train_iteration()  # fills the replay; keeps nothing now (the rollout was paid)
    env = CoordinationCore(2, length=5)
    obs, _ = env.reset(seed=4)
    mask, state = env.action_mask(), env.state().reshape(2, -1)
    actions = np.array([[0, 1], [1, 1]])
    step = env.step(actions)
    rule.record_called(obs, mask, state, actions, np.array([True, False]), step, keep=True)
    signal = rule.disagreement()
    with torch.no_grad():
        q = rule.q_net(torch.as_tensor(obs, dtype=torch.float32))[0].numpy()
        q_next_online = rule.q_net(torch.as_tensor(step[0], dtype=torch.float32))[0].numpy()
        q_next = rule.target_q_net(torch.as_tensor(step[0], dtype=torch.float32))[0].numpy()
    gamma = rule.cfg.gamma
    for b in range(2):
        taken = q[b, np.arange(2), actions[b]]
        best = q_next_online[b].argmax(-1)
        v_next = q_next[b, np.arange(2), best] * ~step[2][b]
        delta_i = step[1][b] + gamma * v_next - taken
        delta_tot = step[1][b].sum() + gamma * v_next.sum() * (~step[2][b]).any() - taken.sum()
        assert signal[0, b] == pytest.approx(np.mean(np.abs(delta_tot - delta_i)), rel=1e-5)


@pytest.mark.parametrize("called", ["none", "one", "all"])
def test_value_reward_statistics_see_every_replayed_step_whatever_is_called(called):
    """The switcher picks steps (often episode starts, where rewards are rare): both rules' reward
    statistics must still be those of every replayed step, or a rare reward at a called step is
    divided by a near-zero std. Both statistics here end as those of the batch's rewards."""
    from algorithms.on_policy import ValueNorm

    learner = learn(envs.make_vec(FORAGING, 4), 0, switcher={"mode": "random", "rate": 0.5})
    rule = learner.il.learner
    while len(rule.replay) < 16:
        learner.train_iteration()
    batch = rule.replay.sample(16, np.random.default_rng(0))
    batch = {k: torch.as_tensor(v) for k, v in batch.items()}
    batch["obs"] = batch["obs"].float()
    filled = batch["filled"]
    picked = {"none": torch.zeros_like(filled), "all": filled.clone()}
    first = torch.zeros_like(filled)
    first[0, 0] = True  # one step, rewarded or not
    batch["called"] = picked.get(called, first)
    rule.reward_norm, rule.local_reward_norm = ValueNorm(), ValueNorm()
    rule._loss(batch)
    own = batch["rewards"][filled.unsqueeze(-1) & batch["active"]].double()
    team = batch["rewards"][filled].sum(-1).double()
    assert own.abs().sum() > 0  # the batch holds rewards
    assert rule.local_reward_norm.count == own.numel()
    assert rule.local_reward_norm.var.item() == pytest.approx(own.var(unbiased=False).item())
    assert rule.reward_norm.count == team.numel()
    assert rule.reward_norm.var.item() == pytest.approx(team.var(unbiased=False).item())


def test_value_rules_share_one_reward_scale_vdn_team_target_is_the_sum():
    """With VDN and one reward scale, the team TD target of a step is the sum of the agents'
    independent targets (all agents live): the two rules pull the shared Qs toward one fixed point."""
    learner = learn(
        envs.make_vec(FORAGING, 4), 0, cl="vdn", switcher={"mode": "random", "rate": 0.5}
    )
    rule = learner.il.learner
    for _ in range(200):  # until the statistics hold rewards
        if len(rule.replay) >= 8 and rule.local_reward_norm.var > 1e-4:
            break
        learner.train_iteration()
    assert rule.local_reward_norm.std.item() != pytest.approx(rule.reward_norm.std.item(), rel=0.01)
    batch = rule.replay.sample(len(rule.replay), np.random.default_rng(1))
    batch = {k: torch.as_tensor(v) for k, v in batch.items()}
    batch["obs"] = batch["obs"].float()
    filled = batch["filled"]
    with torch.no_grad():
        taken, next_values = rule.agent_values(batch)
        own, _ = rule.independent_targets(
            batch, next_values, filled, rule.local_reward_norm, fold=False
        )
        _, team = rule._central(batch, taken, next_values, filled)
    assert batch["rewards"][filled].abs().sum() > 0
    torch.testing.assert_close(team, own[filled].sum(-1))


# ---------------------------------------------------------------------- checkpoints, config
@pytest.mark.parametrize(("il", "cl"), [("iql", "qmix"), ("ippo", "mappo")])
def test_learn_resume_from_state_dict_is_bit_for_bit(il, cl):
    def fresh():
        return learn(CoordinationCore(4, length=5), 2, il=il, cl=cl, budget=3, cost=0.1)

    straight, resumed = straight_and_resumed(fresh)
    assert same_parameters(agents(resumed, il), agents(straight, il))
    if il == "iql":
        assert same_parameters(resumed.il.learner.mixer, straight.il.learner.mixer)
    else:
        assert resumed.il.cl.learner.actor is resumed.il.learner.actor
        assert same_parameters(resumed.il.cl.learner.critic, straight.il.cl.learner.critic)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algo.switch=lern"], "algo.switch must be one of .*did you mean 'learn'"),
        (["algo.switch=both"], r"algo.switch must be one of \['act', 'learn'\]"),
        (["algo.transfer_weight=-0.1"], "algo.transfer_weight must be a finite number >= 0"),
        (["algo.switch=learn", "algo.transfer_weight=1.0"], "applies to switch=act only"),
        (["algo.demonstrator=unifrm"], "algo.demonstrator must be one of .*did you mean 'uniform'"),
        (["algo.switch=learn", "algo.demonstrator=uniform"], "demonstrator applies to switch=act"),
        (["algo.switch=learn", "algo.il_cfg.lr=0.001"], "algo.il_cfg has no effect"),
        (["algo.switcher.mode=randm"], "algo.switcher.mode must be one of"),
        (["algo.switcher.rate=1.5"], r"algo.switcher.rate must lie in \[0, 1\]"),
    ],
)
def test_bad_switch_settings_are_refused_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["algo=mansa", *overrides])


def test_learn_needs_a_cl_with_a_centralised_rule(monkeypatch):
    monkeypatch.setitem(mansa_config.CL_LEARNERS, "mfq", "value")
    with pytest.raises(
        ValueError, match=r"switch=learn needs a CL with a centralised.*mappo, qmix, vdn"
    ):
        MANSAConfig(cl="mfq", switch="learn")


def test_random_switcher_calls_at_its_rate():
    learner = learn(CoordinationCore(16, length=5), 0, switcher={"mode": "random", "rate": 0.25})
    shares = [learner.train_iteration()["mansa/cl_fraction"] for _ in range(8)]
    assert 0.15 < np.mean(shares) < 0.35
    assert isinstance(learner.il.learner, RuleSwitchValue)


# ---------------------------------------------------------------------- learning
@pytest.mark.parametrize(
    ("il", "cl", "copies", "env_steps", "sub"),
    [
        (
            "iql",
            "qmix",
            32,
            15_000,
            {"epsilon_anneal_steps": 5000, "lr": 1e-3, "target_update_interval": 100},
        ),
        ("ippo", "mappo", 64, 60_000, {}),
    ],
)
def test_learn_solves_small_foraging_well_above_random(il, cl, copies, env_steps, sub):
    cfg = MANSAConfig(
        il=il,
        cl=cl,
        switch="learn",
        il_cfg={} if il == "iql" else dict(sub),
        cl_cfg=dict(sub),
        cost=1.0,
        budget=5,
    )
    learner = MANSALearner(cfg, envs.make_vec(FORAGING, copies), "cpu", 0)
    while learner.env_steps < env_steps:
        metrics = learner.train_iteration()
    assert 0.0 < metrics["mansa/cl_fraction_total"] < 0.5
    episodes = 64
    trained = evaluate(
        learner.act, lambda b: envs.make_vec(FORAGING, b), episodes, seed=123, needs_state=True
    )
    rng = np.random.default_rng(0)

    def random_act(obs, mask, state, hidden):
        return (rng.random(mask.shape) * mask).argmax(axis=-1), None

    random = evaluate(random_act, lambda b: envs.make_vec(FORAGING, b), episodes, seed=123)
    assert np.mean(trained["return"]) > np.mean(random["return"]) + 0.3


# ---------------------------------------------------------------------- CL-to-IL transfer (switch=act)
def transfer_run(il, cl, weight, iterations=12, demonstrator="cl"):
    small = SMALL_Q if il == "iql" else SMALL_PPO
    greedy_cl = {"epsilon_start": 0.0, "epsilon_finish": 0.0} if il == "iql" else {}
    cfg = MANSAConfig(
        il=il,
        cl=cl,
        transfer_weight=weight,
        demonstrator=demonstrator,
        cost=0.0,
        budget=None,
        rollout_length=8,
        il_cfg=dict(small),
        cl_cfg={**small, **greedy_cl},
        switcher=build_config(SwitcherConfig, {"mode": "random", "rate": 0.5}),
    )
    learner = MANSALearner(cfg, CoordinationCore(8, length=5), "cpu", 4)
    if il == "ippo":  # a MAPPO that mostly plays action 0, so its actions are worth imitating
        cl_learner = learner.cl.learner
        with torch.no_grad():
            cl_learner.actor.net.head.bias[..., 0] += 4.0
        for group in cl_learner.optimizer.param_groups:
            group["lr"] = 0.0
    for _ in range(iterations):
        metrics = learner.train_iteration()
    return learner, metrics


def cl_action_score(data_run, scored):
    """How ``scored``'s IL scores CL's actions on the CL steps of ``data_run``: for IQL the share
    of them its greedy action matches (in the replay), for IPPO their mean log-likelihood (in the
    last rollout)."""
    inner, net = data_run.il.learner, scored.il.learner
    with torch.no_grad():
        if hasattr(inner, "replay"):
            n = len(inner.replay)
            data = {k: torch.as_tensor(v[:n]) for k, v in inner.replay.data.items()}
            steps = torch.arange(data["demo"].shape[1])[None, :]
            demo = data["demo"] & (steps < torch.as_tensor(inner.replay.lengths[:n])[:, None])
            q = net.q_net(data["obs"][:, :-1][demo].float())[0]
            return float((q.argmax(-1) == data["actions"][demo]).float().mean())
        buffer, weights = inner.buffer, torch.as_tensor(data_run.il.demo_weights).reshape(-1)
        dist, _ = net.actor.distribution(buffer["obs"].flatten(0, 1), buffer["mask"].flatten(0, 1))
        log_probs = dist.log_prob(buffer["actions"].flatten(0, 1)).reshape(-1)
        return float((log_probs * weights).sum() / weights.sum())


@pytest.mark.parametrize(("il", "cl"), [("iql", "qmix"), ("ippo", "mappo")])
def test_transfer_moves_il_toward_cl_actions_on_cl_steps(il, cl):
    with_transfer, metrics = transfer_run(il, cl, 5.0)
    key = "losses/il/transfer_loss"
    assert key in metrics and np.isfinite(metrics[key])
    without, _ = transfer_run(il, cl, 0.0)  # the same run without transfer
    gained = cl_action_score(with_transfer, with_transfer) - cl_action_score(with_transfer, without)
    # IQL: share of CL's greedy actions matched; IPPO: nats per action of CL's (mostly action 0)
    assert gained > 0.2


def test_transfer_loss_runs_the_q_net_once_and_matches_two_separate_passes():
    """The margin term reuses the TD loss's Q-values: one forward pass of the online net, and the
    same loss and gradient as IQL's loss plus the margin on a pass of its own."""
    from algorithms.mansa.transfer import MARGIN
    from algorithms.value_targets import allow_all_if_empty

    run, _ = transfer_run("iql", "qmix", 1.0, iterations=6)
    rule = run.il.learner
    sample = rule.replay.sample(len(rule.replay), np.random.default_rng(0))
    batch = {k: torch.as_tensor(v) for k, v in sample.items()}
    assert (batch["demo"] & batch["filled"]).any()
    twin = copy.deepcopy(rule)  # the loss folds rewards into running statistics: same start
    calls = []
    forward = rule.q_net.forward
    rule.q_net.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    try:
        loss, logs = rule._loss(batch)
    finally:
        del rule.q_net.forward
    assert len(calls) == 1
    fused = torch.autograd.grad(loss, list(rule.q_net.parameters()))

    td, _ = IQLLearner._loss(twin, batch)  # IQL's loss alone, then the margin on a second pass
    demo = batch["demo"] & batch["filled"]
    q = twin.q_net.forward_episodes(batch["obs"].float())[:, :-1][demo]
    actions = batch["actions"][demo]
    valid = allow_all_if_empty(batch["mask"][:, :-1][demo])
    margins = MARGIN * torch.ones_like(q).scatter(-1, actions.unsqueeze(-1), 0.0)
    best = torch.where(valid, q + margins, torch.full_like(q, -torch.inf)).amax(-1)
    live = batch["active"][demo].to(q.dtype)
    margin = ((best - q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)) * live).sum() / live.sum()
    assert margin > 0
    reference = td + twin.transfer_weight * margin
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(logs["transfer_loss"], margin.detach())
    for got, want in zip(fused, torch.autograd.grad(reference, list(twin.q_net.parameters()))):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("il", "cl"), [("iql", "qmix"), ("ippo", "mappo")])
def test_a_uniform_demonstrator_plays_random_valid_actions_on_called_steps(il, cl):
    """demonstrator=uniform (the transfer control): the called steps' actions are uniform over the
    valid ones, not CL's; CL still learns from every step."""
    from algorithms.mansa.transfer import StandInSeat

    run, _ = transfer_run(il, cl, 1.0, iterations=3, demonstrator="uniform")
    assert isinstance(run.cl, StandInSeat)
    assert run.cl.learner.updates > 0  # CL still learns
    env = run.env
    obs, _ = env.reset(seed=1)
    obs = obs.reshape(env.num_envs, env.num_agents, -1)
    mask, state = env.action_mask(), env.state().reshape(env.num_envs, -1)
    mask[:, :, 0] = False  # action 0 invalid: never played
    picks = np.concatenate([run.cl.behaviour(obs, mask, state) for _ in range(200)])
    counts = np.bincount(picks.ravel(), minlength=env.num_actions)
    assert counts[0] == 0
    share = counts[1:] / counts.sum()
    assert np.all(np.abs(share - 1 / (env.num_actions - 1)) < 0.05)
    cl_choice = run.cl.inner.greedy(obs, mask, state, True)[0]
    played = [run.cl.greedy(obs, mask, state, True)[0] for _ in range(20)]
    assert any(not np.array_equal(p, cl_choice) for p in played)


@pytest.mark.parametrize(("il", "cl"), [("iql", "qmix"), ("ippo", "mappo")])
def test_il_as_demonstrator_plays_ils_greedy_actions_on_called_steps(il, cl):
    """demonstrator=il (the transfer control without new information): the called steps are IL's
    own greedy actions, in training and evaluation."""
    run, _ = transfer_run(il, cl, 1.0, iterations=3, demonstrator="il")
    env = run.env
    obs, _ = env.reset(seed=2)
    obs = obs.reshape(env.num_envs, env.num_agents, -1)
    mask, state = env.action_mask(), env.state().reshape(env.num_envs, -1)
    own = run.il.greedy(obs, mask, state, True)[0]
    assert np.array_equal(run.cl.behaviour(obs, mask, state), own)
    assert np.array_equal(run.cl.greedy(obs, mask, state, True)[0], own)
    assert not np.array_equal(run.cl.inner.greedy(obs, mask, state, True)[0], own)  # CL's differ


@pytest.mark.parametrize("demonstrator", ["uniform", "il"])
def test_a_stand_in_demonstrator_resumes_bit_for_bit(demonstrator):
    def fresh():
        cfg = MANSAConfig(
            transfer_weight=1.0,
            demonstrator=demonstrator,
            budget=None,
            rollout_length=8,
            il_cfg=dict(SMALL_Q),
            cl_cfg=dict(SMALL_Q),
            switcher=build_config(SwitcherConfig, {"mode": "random", "rate": 0.5}),
        )
        return MANSALearner(cfg, CoordinationCore(4, length=5), "cpu", 3)

    straight, resumed = straight_and_resumed(fresh)
    assert same_parameters(resumed.il.learner.q_net, straight.il.learner.q_net)
    assert np.array_equal(resumed._obs, straight._obs)


def test_transfer_weight_zero_builds_no_transfer_term():
    from algorithms.iql import IQLLearner
    from algorithms.mansa.sides import PolicySide, ValueSide

    value = MANSALearner(MANSAConfig(transfer_weight=0.0), CoordinationCore(2), "cpu", 0)
    assert type(value.il.learner) is IQLLearner and type(value.il) is ValueSide
    policy = MANSALearner(MANSAConfig(il="ippo", cl="mappo"), CoordinationCore(2), "cpu", 0)
    assert type(policy.il) is PolicySide


@pytest.mark.parametrize(("il", "cl"), PAIRS)
def test_learn_exports_il_agents_as_its_policy_and_act_does_not(il, cl):
    """switch=learn: IL's agents always act, so their standalone policy is MANSA's (its best
    checkpoint can be kept); switch=act needs the switcher on the global state: no policy."""
    env = CoordinationCore(3, length=5)
    learner = learn(env, 2, il=il, cl=cl, switcher={"mode": "random", "rate": 0.5})
    for _ in range(3):
        learner.train_iteration()
    policy, obs, memory = learner.policy(), env.reset(seed=4)[0], None
    for _ in range(4):
        joint, memory = learner.act(obs, env.action_mask(), env.state(), memory)
        assert np.array_equal(policy.act(obs, env.action_mask())[0], joint)
        obs = env.step(joint)[0]
    acting = MANSALearner(
        MANSAConfig(il=il, cl=cl, il_cfg=dict(SMALL_Q if il == "iql" else SMALL_PPO)), env
    )
    assert acting.policy() is None


def test_a_side_learns_from_its_own_rows_only():
    """A rollout update drawn from some rows (a MANSA side's own steps) is blind to the others'
    observations, and drawing from every row is the plain update."""
    cfg = build_config(IPPOConfig, {**SMALL_PPO, "rollout_length": 6})
    learner = IPPOLearner(cfg, envs.make_vec(FORAGING, 4), seed=0)
    last_values = learner._collect()
    rows = torch.zeros(6, 4, dtype=torch.bool)
    rows[::2, 1:] = True

    def update(draw_from, scramble):
        twin = copy.deepcopy(learner)
        if scramble:  # other observations on the rows that ``rows`` leaves out
            out = ~rows[:, :, None, None].expand_as(twin.buffer["obs"])
            twin.buffer["obs"][out] = torch.rand_like(twin.buffer["obs"][out])
        twin.update_from_rollout(last_values, rows=draw_from)
        return torch.cat([p.detach().flatten() for p in twin.params])

    assert torch.equal(update(rows, False), update(rows, True))
    assert not torch.equal(update(None, False), update(None, True))  # the plain update sees them
    everything = torch.ones(6, 4, dtype=torch.bool)
    assert torch.equal(update(None, False), update(everything, False))


def test_learn_on_policy_takes_one_update_per_mixed_rollout():
    """A rollout with called and uncalled steps is one PPO update (IPPO's optimiser, which also
    steps the central critic), not two in turn; the central critic learns from the called steps."""
    learner = learn(
        CoordinationCore(4, length=5), 0, il="ippo", cl="mappo", switcher={"mode": "random"}
    )
    side = learner.il
    central = copy.deepcopy(side.cl.learner.critic)
    iterations = 3
    for _ in range(iterations):
        metrics = learner.train_iteration()
        assert side.called.any() and not side.called.all()
    assert 0 < metrics["mansa/cl_time_share"] < 1  # the central critic's passes are CL's time
    steps = SMALL_PPO["epochs"] * SMALL_PPO["minibatches"] * iterations
    optimizer = side.learner.optimizer
    actor_state = optimizer.state[next(side.learner.actor.parameters())]
    assert int(actor_state["step"]) == steps
    critic_state = optimizer.state[next(side.cl.learner.critic.parameters())]
    assert 0 < int(critic_state["step"]) <= steps  # skipped by minibatches without a called step
    assert not side.cl.learner.optimizer.state  # MAPPO's own optimiser never stepped
    assert not same_parameters(central, side.cl.learner.critic)
