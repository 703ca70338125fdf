"""Policy mirror ascent (algo=pma): the closed-form pieces, refusals, resume, learning on Braess."""

import pickle

import numpy as np
import pytest
from toy_envs import one_torch_thread  # noqa: F401  (autouse fixture)

import envs
from algorithms import ALGORITHMS, get_algorithm
from algorithms.config import build_config
from algorithms.pma import masked_log_softmax, mirror_step, soft_values, visit_weights

BRAESS = {"tau": 1.0, "eta": 0.1, "gamma": 0.0, "drop_obs_tail": 3, "explore_anneal_steps": 3200}


def make(env, seed=0, **overrides):
    config_cls, learner_cls = get_algorithm("pma")
    return learner_cls(build_config(config_cls, overrides), env, "cpu", seed)


def test_registry_flags_and_config_refusals():
    config_cls, learner_cls = ALGORITHMS["pma"]
    assert learner_cls.supports_discrete and not learner_cls.supports_continuous
    assert not learner_cls.needs_state and not learner_cls.needs_neighbours
    for key, value, says in (
        ("tau", 0.0, r"algo.tau must be > 0"),
        ("eta", -1.0, r"algo.eta must be > 0"),
        ("gamma", 1.0, r"algo.gamma must lie in \[0, 1\)"),
        ("td_lr", 1.5, r"algo.td_lr must lie in \(0, 1\]"),
        ("explore", 2.0, r"algo.explore must lie in \[0, 1\]"),
        ("eta_final", 0.0, r"algo.eta_final must be > 0 or null"),
        ("eta_anneal_steps", -1, r"algo.eta_anneal_steps must be >= 0"),
    ):
        with pytest.raises(ValueError, match=says):
            build_config(config_cls, {key: value})


def test_unsupported_envs_and_inputs_are_refused_with_one_message():
    continuous = envs.make_vec("swarming-vicsek-v0", 1, num_agents=4, actions="continuous")
    with pytest.raises(ValueError, match="PMALearner does not support continuous actions"):
        make(continuous)
    braess = envs.make_vec("routing-braess-v0", 1)
    with pytest.raises(ValueError, match=r"algo.drop_obs_tail=7 leaves no observation entry"):
        make(braess, drop_obs_tail=7)
    learner = make(envs.make_vec("routing-braess-v0", 2), max_states=8)  # route times kept
    with pytest.raises(ValueError, match=r"more than algo.max_states=8 .*algo.drop_obs_tail"):
        for _ in range(5):
            learner.train_iteration()


def test_mirror_step_is_the_geometric_mix_and_tends_to_the_regularised_best_response():
    rng = np.random.default_rng(0)
    q, log_pi = rng.normal(size=(5, 4)) * 3, masked_log_softmax(rng.normal(size=(5, 4)), None)
    tau, eta = 0.7, 0.4
    mix = np.exp(log_pi) ** (1 / (1 + eta)) * np.exp(q / tau) ** (eta / (1 + eta))
    np.testing.assert_allclose(
        np.exp(mirror_step(log_pi, q, tau, eta)), mix / mix.sum(1, keepdims=True)
    )
    best = np.exp(q / tau) / np.exp(q / tau).sum(1, keepdims=True)
    np.testing.assert_allclose(np.exp(mirror_step(log_pi, q, tau, 1e9)), best, atol=1e-6)

    # the step maximises <u, q> + tau H(u) - (tau / eta) KL(u || pi) against random candidates
    def objective(u, row):
        pi = np.exp(log_pi[row])
        return u @ q[row] - tau * u @ np.log(u) - tau / eta * u @ np.log(u / pi)

    new = np.exp(mirror_step(log_pi, q, tau, eta))
    for row in range(5):
        for u in rng.dirichlet(np.ones(4), size=200):
            assert objective(u, row) <= objective(new[row], row) + 1e-9


def test_soft_values_and_visit_weights_match_naive_loops():
    q = np.array([[1.0, 2.0, -1.0]])
    log_pi = masked_log_softmax(np.array([[0.3, -0.2, 0.0]]), np.array([[True, True, False]]))
    pi = np.exp(log_pi[0])
    naive = sum(pi[a] * (q[0, a] - 0.5 * log_pi[0, a]) for a in range(2))
    np.testing.assert_allclose(soft_values(q, log_pi, 0.5), [naive])
    first, n = np.array([0, 3, 2]), np.array([1, 4, 2])
    np.testing.assert_allclose(visit_weights(first, n, 1.0, 1.0), n / (first + n))  # running mean
    for lr, decay in ((0.5, 0.0), (0.3, 2.0)):
        keep = [
            np.prod([1 - lr / (1 + decay * (f + j - 1)) for j in range(1, m + 1)])
            for f, m in zip(first, n)
        ]
        np.testing.assert_allclose(visit_weights(first, n, lr, decay), 1 - np.array(keep))


def test_eta_schedule_sets_each_iterations_mirror_step():
    """Without eta_final the step is eta throughout; with it, each iteration's mirror step uses
    the step size linear in env steps at the iteration's start."""
    braess = {k: v for k, v in BRAESS.items() if k != "eta"}
    constant = make(envs.make_vec("routing-braess-v0", 2), td_steps=2, eta=0.1, **braess)
    falling = make(
        envs.make_vec("routing-braess-v0", 2),
        td_steps=2,
        eta=0.1,
        eta_final=0.02,
        eta_anneal_steps=16,
        **braess,
    )
    constant.train_iteration()
    falling.train_iteration()
    for start in (4, 8, 12, 16, 20):
        assert falling.env_steps == start
        expected = 0.1 + (0.02 - 0.1) * min(start, 16) / 16
        assert falling.eta == pytest.approx(expected) and constant.eta == 0.1
        old = falling.log_pi[: falling.num_states].copy()
        metrics = falling.train_iteration()
        constant.train_iteration()
        assert metrics["charts/eta"] == pytest.approx(expected)
        step = mirror_step(old, falling.q[: falling.num_states], 1.0, expected)
        assert np.allclose(falling.log_pi[: falling.num_states], step)
    assert falling.eta == 0.02


def test_resume_is_bit_exact_and_acting_changes_nothing():
    learner = make(
        envs.make_vec("routing-braess-v0", 2, max_days=5),
        seed=3,
        td_steps=3,
        **{k: v for k, v in BRAESS.items() if k != "drop_obs_tail"},
    )
    for _ in range(3):
        learner.train_iteration()
    saved = pickle.loads(pickle.dumps(learner.state_dict()))
    before = learner.state_dict()
    learner.act(saved["obs"], greedy=False)
    twin = make(
        envs.make_vec("routing-braess-v0", 2, max_days=5),
        seed=99,
        td_steps=3,
        **{k: v for k, v in BRAESS.items() if k != "drop_obs_tail"},
    )
    twin.load_state_dict(saved)
    assert np.array_equal(learner.state_dict()["q"], before["q"])
    for _ in range(4):
        assert learner.train_iteration() == twin.train_iteration()
    a, b = learner.state_dict(), twin.state_dict()
    for key in ("keys", "q", "log_pi", "visits", "obs"):
        assert np.array_equal(a[key], b[key]), key
    assert a["rng"] == b["rng"] and a["env_steps"] == b["env_steps"]


def drive(env, act, days=20):
    obs, _ = env.reset(seed=11)
    tstt = []
    for _ in range(days):
        obs, _, _, _, info = env.step(act(obs, env.action_mask()))
        tstt.append(info["metrics"]["tstt"])
    return float(np.mean(tstt[-10:])), np.bincount(env.last_routes[0], minlength=3)


def test_learns_the_braess_user_equilibrium_split():
    """The UE of Braess (demand 6) is 2 drivers per route, TSTT 552; random routes cost ~580."""
    learner = make(envs.make_vec("routing-braess-v0", 8), seed=0, **BRAESS)
    while learner.env_steps < 6400:
        metrics = learner.train_iteration()
    assert metrics["losses/policy_kl"] < 0.01
    env = envs.make_vec("routing-braess-v0", 4, max_days=100)
    greedy_tstt, split = drive(env, lambda o, m: learner.act(o, m, greedy=True)[0])
    assert split.tolist() == [2, 2, 2] and greedy_tstt == pytest.approx(552.0)
    sampled_tstt, _ = drive(env, lambda o, m: learner.act(o, m, greedy=False)[0])
    rng = np.random.default_rng(0)
    random_tstt, _ = drive(env, lambda o, m: rng.integers(0, 3, m.shape[:2]))
    assert sampled_tstt < random_tstt - 15.0
    probs = learner.action_probs(env.reset(seed=0)[0], env.action_mask())[0]
    assert np.abs(probs.sum(axis=0) - 2.0).max() < 0.6  # expected drivers per route


def test_benchmark_logit_equilibrium_of_braess_is_the_even_split():
    """Braess's UE routes are all used at equal times, so every logit equilibrium is 2/2/2."""
    from benchmarks.pma_routing import link_flows, logit_equilibrium, route_flows

    env = envs.make_vec("routing-braess-v0", 1)
    for tau in (0.5, 5.0):
        flows, residual = logit_equilibrium(env, tau, iterations=2000)
        np.testing.assert_allclose(flows, [2.0, 2.0, 2.0], atol=1e-2)
        assert residual < 1e-3
    one_route = np.zeros((env.num_agents, 3))
    one_route[:, 0] = 1.0
    assert route_flows(env, one_route).tolist() == [6.0, 0.0, 0.0]
    assert link_flows(env, route_flows(env, one_route)).max() == 6.0


def test_benchmark_exploitability_matches_exact_enumeration_on_braess():
    """The Monte Carlo regularised exploitability against a naive loop over every route profile."""
    import itertools

    from benchmarks.pma_routing import regularised_exploitability

    env = envs.make_vec("routing-braess-v0", 1)
    probs = np.random.default_rng(1).dirichlet(np.ones(3), size=6)
    incidence = env.paths.incidence.toarray()
    exact = []
    for i in range(6):
        q = np.zeros(3)
        others = [j for j in range(6) if j != i]
        for profile in itertools.product(range(3), repeat=5):
            weight = np.prod([probs[j, a] for j, a in zip(others, profile)])
            for a in range(3):
                flows = np.bincount([*profile, a], minlength=3).astype(float)
                times = incidence @ env.network.link_time(incidence.T @ flows)
                q[a] -= weight * times[a]
        tau = 2.0
        best = tau * np.log(np.exp(q / tau).sum())
        exact.append(best - (probs[i] @ q - tau * probs[i] @ np.log(probs[i])))
    estimate = regularised_exploitability(env, probs, 2.0, samples=3000, seed=0)
    assert estimate == pytest.approx(np.mean(exact), rel=0.03)


def test_wardrop_benchmark_runs_a_condition_and_reads_its_target(tmp_path, capsys):
    """Issue 23's routing benchmark: free-flow routes, drivers blind to route times, the reward
    of the condition; selfish PMA drivers end at Braess's UE split greedily."""
    from benchmarks import routing_wardrop

    args = ["--only", "braess_pma_selfish", "braess_pma_social", "--seeds", "0"]
    routing_wardrop.main([*args, "--launcher", "serial", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| braess_pma_selfish | pma | selfish | 1 | 0.0000 [0.0000] |" in out
    assert "gap <= 0.02 in 1/1" in out
    social = next(line for line in out.splitlines() if line.startswith("| braess_pma_social"))
    assert social.split("|")[8].strip().startswith("1.0000")  # greedy TSTT at the optimum's
    config = (tmp_path / "braess_pma_social_seed0" / "config.yaml").read_text()
    assert "reward: social" in config and "observe_times: false" in config
    assert "routes: free_flow" in config
    summary = routing_wardrop.summarise(str(tmp_path), routing_wardrop.CONDITIONS)
    # seeds whose run folders are gone come from a committed curves.json; a seed run here wins
    ran = summary["braess_pma_selfish"]["curves"]["0"]
    gone = {kind: [[100, 0.5]] for kind in ran}
    committed = {"braess_pma_selfish": {"0": gone, "7": gone}, "braess_iql_selfish": {"3": gone}}
    merged = routing_wardrop.summarise(str(tmp_path), routing_wardrop.CONDITIONS, committed)
    row = merged["braess_pma_selfish"]
    assert row["seeds"] == ["0", "7"] and row["curves"]["0"] == ran
    assert row["final"]["greedy"]["values"] == [ran["greedy"][-1][1], 0.5]
    assert merged["braess_iql_selfish"]["seeds"] == ["3"]
    assert merged["braess_pma_social"] == summary["braess_pma_social"]
    refs = {n: {"ue_over_so": 1.1} for n in routing_wardrop.PMA}
    routing_wardrop.plot(summary, refs, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_wardrop_iql_sioux_falls_condition_is_its_shipped_config():
    from benchmarks import routing_wardrop
    from train import load_config

    network, algo, path, overrides = routing_wardrop.CONDITIONS["siouxfalls_iql_selfish"]
    assert (network, algo) == ("siouxfalls", "iql")
    cfg = load_config(path, list(overrides))
    assert cfg.env.id == "routing-siouxfalls-v0" and cfg.env.kwargs["k"] == 8
    assert cfg.env.kwargs["routes"] == "free_flow" and not cfg.env.kwargs["observe_times"]
    assert cfg.eval.actions == "greedy" and cfg.total_env_steps == 12800


@pytest.mark.parametrize(
    "variant, owner, key, values",
    [
        ("siouxfalls_ippo_2x_selfish", "", "total_env_steps", (12800, 25600)),
        ("siouxfalls_ippo_oneshot_selfish", "algo", "gamma", (0.99, 0.0)),
    ],
)
def test_wardrop_ippo_sioux_falls_variants_change_one_setting(variant, owner, key, values):
    from benchmarks import routing_wardrop
    from train import load_config

    base, other = (routing_wardrop.CONDITIONS[k] for k in ("siouxfalls_ippo_selfish", variant))
    assert base[:3] == other[:3]
    assert routing_wardrop.reward_of(variant) == "selfish"
    a, b = (load_config(c[2], list(c[3])) for c in (base, other))
    part_a, part_b = (getattr(c, owner) if owner else c for c in (a, b))
    assert (getattr(part_a, key), getattr(part_b, key)) == values
    assert b.eval.actions == "greedy" and not b.env.kwargs["observe_times"]
    setattr(part_b, key, getattr(part_a, key))
    assert a == b


@pytest.mark.parametrize("network", ["braess", "siouxfalls"])
def test_wardrop_iql_annealed_changes_only_the_learning_rate_schedule(network):
    from benchmarks import routing_wardrop
    from train import load_config

    constant, annealed = (
        routing_wardrop.CONDITIONS[f"{network}_iql{kind}_selfish"] for kind in ("", "_anneal")
    )
    assert constant[:3] == annealed[:3]
    assert routing_wardrop.reward_of(f"{network}_iql_anneal_selfish") == "selfish"
    a, b = (load_config(c[2], list(c[3])) for c in (constant, annealed))
    assert (a.algo.anneal_lr, b.algo.anneal_lr) == (False, True)
    assert b.eval.actions == "greedy"
    b.algo.anneal_lr = False
    assert a == b
