"""The swarming env's action spaces that can express the Vicsek rule (issue 23's phase study).

A turn table over +-pi (or continuous turns) lets the scripted rule follow the exact rule's
order-noise curve; the default table (7 turns within +-pi/4) cannot turn far enough at high
noise, so its order falls short there."""

import numpy as np
import pytest

from benchmarks.swarming_phase import NOISES, SPACES, order_curve

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("model", ["vicsek", "kuramoto"])
def test_a_wide_turn_table_follows_the_exact_rule_and_the_default_falls_short(model):
    def curve(label):
        space, rule = SPACES[label]
        return np.array(order_curve(model, space, rule, steps=120, copies=4, seed=1))

    exact = curve("exact rule, continuous +-pi")
    wide = curve("exact rule, 25 turns +-pi")
    default = curve("exact rule, default 7 turns +-pi/4")
    assert np.abs(wide - exact).max() < 0.03
    high = np.array(NOISES) == 3.5
    assert (exact - default)[high].item() > 0.08  # the default table cannot express the rule
    assert exact[0] > 0.95 and exact[-1] < 0.25  # ordered without noise, disordered at 5


def test_a_trained_policy_file_plays_along_the_curve_in_its_own_action_space(tmp_path):
    import envs
    from agents.policy import Policy, PolicySpec
    from benchmarks.swarming_phase import policy_curve

    kwargs = {"num_turns": 25, "max_turn": 3.14159, "noise": 2.0, "num_agents": 100}
    core = envs.make_vec("swarming-vicsek-v0", 1, **kwargs)
    policy = Policy(PolicySpec.for_env(core, agent_id=False))
    path = str(tmp_path / "policy.pt")
    policy.save(path, {"env_id": "swarming-vicsek-v0", "env_kwargs": kwargs})
    model, curve = policy_curve(path, steps=8, copies=2, seed=0)
    assert model == "vicsek" and len(curve) == len(NOISES)
    assert all(0.0 <= v <= 1.0 for v in curve)


def test_a_policy_trained_on_a_noise_range_is_judged_by_its_largest_shortfall(tmp_path):
    import envs
    from agents.policy import Policy, PolicySpec
    from benchmarks.swarming_phase import policy_curve
    from benchmarks.swarming_phase_learned import gap, table

    kwargs = {"actions": "continuous", "max_turn": 3.14159, "noise": [0.0, 5.0], "num_agents": 100}
    core = envs.make_vec("swarming-vicsek-v0", 1, **kwargs)
    path = str(tmp_path / "policy.pt")
    Policy(PolicySpec.for_env(core, agent_id=False)).save(
        path, {"env_id": "swarming-vicsek-v0", "env_kwargs": kwargs}
    )
    _, curve = policy_curve(path, steps=4, copies=1, seed=0)  # the range is not replayed
    assert len(curve) == len(NOISES)
    exact = [1.0] * len(NOISES)
    assert gap([0.99] * (len(NOISES) - 1) + [0.5], exact) == pytest.approx(0.5)
    assert gap([1.0] * len(NOISES), exact) == 0.0
    runs = [{"label": "ippo", "phase": {"final": [0.98] * len(NOISES), "best": exact}}]
    text = table(runs, exact, ["ippo"])
    assert "| ippo (final) | 1 |" in text and text.rstrip().endswith("| 0.000 | 1/1 |")


@pytest.mark.parametrize("actions", [{"num_turns": 25}, {"actions": "continuous"}])
def test_the_turn_diagnostic_reads_a_policy_in_its_own_action_space(tmp_path, actions):
    import envs
    from agents.policy import Policy, PolicySpec
    from benchmarks.swarming_phase_learned import turn_errors

    kwargs = {"max_turn": 3.14159, "noise": [0.0, 5.0], "num_agents": 100, **actions}
    core = envs.make_vec("swarming-vicsek-v0", 1, **kwargs)
    path = str(tmp_path / "policy.pt")
    Policy(PolicySpec.for_env(core, agent_id=False)).save(
        path, {"env_id": "swarming-vicsek-v0", "env_kwargs": kwargs}
    )
    errors = turn_errors(path, "vicsek", eta=4.0, copies=1, steps=20)
    assert -np.pi <= errors["offset"] <= np.pi and 0.0 < errors["residual"] < np.pi
    assert 0.0 < errors["share"] < 1.0  # at eta = 4 the rule turns far now and then
