"""The donor game's rules: exact accounting, punishment, every norm's table, error rates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs

LEVEL = {0.0: 0, 0.25: 1, 0.5: 2, 0.75: 3, 1.0: 4}  # default donation levels -> action
NO_ERRORS = {"execution_error": 0.0, "assessment_error": 0.0}
G, B = 1, 0

# Written out by hand from the literature (not read from envs.donor.norms), keyed
# (cooperated, recipient good) -> new reputation of the donor.
BINARY_TABLES = {
    "simple_standing": {(True, G): G, (True, B): G, (False, G): B, (False, B): G},
    "stern_judging": {(True, G): G, (True, B): B, (False, G): B, (False, B): G},
    "shunning": {(True, G): G, (True, B): B, (False, G): B, (False, B): B},
}


def one_round(
    num_agents, actions, recipients, resources=None, reputation=None, num_envs=1, **kwargs
):
    """Set up a scenario by reset options and play one round; return core, rewards, info."""
    core = envs.make_vec("donor-v0", num_envs=num_envs, num_agents=num_agents, **kwargs)
    options = {"recipients": np.asarray(recipients)}
    if resources is not None:
        options["resources"] = resources
    if reputation is not None:
        options["reputation"] = reputation
    core.reset(seed=0, options=options)
    _, rewards, _, _, info = core.step(np.broadcast_to(np.asarray(actions), (num_envs, num_agents)))
    return core, rewards, info


# ---------------------------------------------------------------------------- accounting
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    pairing=st.sampled_from(["random", "round_robin"]),
    norm=st.sampled_from(["image_scoring", "simple_standing", "stern_judging", "shunning"]),
)
def test_nobody_donating_keeps_everyone_at_ten(seed, pairing, norm):
    core = envs.make_vec("donor-v0", num_envs=3, pairing=pairing, norm=norm)
    core.reset(seed=seed)
    for _ in range(core.num_rounds):
        _, rewards, _, truncated, info = core.step(np.zeros((3, 12), dtype=np.int64))
        assert np.all(rewards == 0.0)
        if truncated.all():
            np.testing.assert_array_equal(info["episode"]["final_resources"], 10.0)
        else:
            np.testing.assert_array_equal(core.resources, 10.0)


def test_hand_worked_round_gives_exact_resources():
    # donor 0 gives 0.5 of 10 to 1, donor 1 gives 0.25 of 20 to 2, donor 2 gives all of 0 to 3,
    # donor 3 gives 0.75 of 8 to 0; recipients get twice the gift
    actions = [LEVEL[0.5], LEVEL[0.25], LEVEL[1.0], LEVEL[0.75]]
    core, rewards, info = one_round(4, actions, [1, 2, 3, 0], resources=[10, 20, 0, 8], **NO_ERRORS)
    expected = [10 - 5 + 12, 20 - 5 + 10, 0 - 0 + 10, 8 - 6 + 0]
    np.testing.assert_allclose(core.resources[0], expected)
    np.testing.assert_allclose(rewards[0], np.array(expected) - [10, 20, 0, 8])
    np.testing.assert_allclose(info["donated"][0], [0.5, 0.25, 1.0, 0.75])
    np.testing.assert_array_equal(info["recipients"][0], [1, 2, 3, 0])


def test_multiplier_scales_what_the_recipient_gets():
    core, rewards, _ = one_round(
        2, [LEVEL[1.0], LEVEL[0.0]], [1, 0], resources=[10, 10], multiplier=3.0, **NO_ERRORS
    )
    np.testing.assert_allclose(core.resources[0], [0.0, 40.0])
    np.testing.assert_allclose(rewards[0], [-10.0, 30.0])


def test_hand_worked_punishment_round():
    # punish = action 5: the donor pays a quarter of its resources, the recipient loses twice that
    actions = [5, 5, LEVEL[0.5], LEVEL[0.0]]
    core, rewards, info = one_round(
        4, actions, [1, 2, 3, 0], resources=[10, 20, 4, 8], punishment=True, **NO_ERRORS
    )
    # 0 pays 2.5, 1 loses 5; 1 pays 5, 2 loses 10 (floored); 2 gives 2, 3 receives 4
    expected = [10 - 2.5, 20 - 5 - 5, 0.0, 8 + 4]
    np.testing.assert_allclose(core.resources[0], expected)
    np.testing.assert_allclose(rewards[0], np.array(expected) - [10, 20, 4, 8])
    np.testing.assert_array_equal(info["punished"][0], [True, True, False, False])
    np.testing.assert_allclose(info["donated"][0], [0.0, 0.0, 0.5, 0.0])


def reference_round(
    resources, recipients, fractions, punished, multiplier, punish_fraction, punish_fine
):
    """A naive per-agent loop of one round's transfers (the test's own model of the rules)."""
    n = len(resources)
    new = list(resources)
    for donor in range(n):
        gift = fractions[donor] * resources[donor]
        cost = punish_fraction * resources[donor] if punished[donor] else 0.0
        new[donor] -= gift + cost
        new[recipients[donor]] += multiplier * gift - punish_fine * cost
    return np.maximum(np.array(new), 0.0)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(2, 9), punishment=st.booleans())
def test_transfers_match_a_naive_loop_and_never_go_negative(data, n, punishment):
    resources = data.draw(st.lists(st.floats(0, 1000, allow_nan=False), min_size=n, max_size=n))
    recipients = [data.draw(st.sampled_from([j for j in range(n) if j != i])) for i in range(n)]
    num_actions = 6 if punishment else 5
    actions = data.draw(st.lists(st.integers(0, num_actions - 1), min_size=n, max_size=n))
    multiplier = data.draw(st.sampled_from([1.0, 2.0, 3.5]))
    fine = data.draw(st.sampled_from([0.0, 2.0, 3.0]))
    core, rewards, _ = one_round(
        n,
        actions,
        recipients,
        resources=resources,
        punishment=punishment,
        multiplier=multiplier,
        punish_fraction=0.3,
        punish_fine=fine,
        **NO_ERRORS,
    )
    fractions = [(0.0, 0.25, 0.5, 0.75, 1.0, 0.0)[a] for a in actions]
    punished = [a == 5 for a in actions]
    expected = reference_round(resources, recipients, fractions, punished, multiplier, 0.3, fine)
    np.testing.assert_allclose(core.resources[0], expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(rewards[0], expected - np.array(resources), rtol=1e-12, atol=1e-9)
    assert np.all(core.resources >= 0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_costs_and_fines_add_up_over_an_episode(seed):
    """Total change = (b - 1) * donated - punishment costs - fines actually taken, every round."""
    core = envs.make_vec(
        "donor-punish-v0", num_envs=4, multiplier=2.0, punish_fraction=0.25, punish_fine=2.0
    )
    core.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(core.num_rounds - 1):
        before = core.resources
        recipients = core.recipients
        _, rewards, _, _, info = core.step(rng.integers(0, 6, size=(4, 12)))
        gift = info["donated"] * before
        cost = np.where(info["punished"], 0.25 * before, 0.0)
        fine_due = np.zeros_like(before)
        for b in range(4):
            np.add.at(fine_due[b], recipients[b], 2.0 * cost[b])
        gross = before - gift - cost
        for b in range(4):
            np.add.at(gross[b], recipients[b], 2.0 * gift[b])
        fine_taken = np.minimum(fine_due, gross)  # the floor at 0 cuts fines, nothing else
        np.testing.assert_allclose(
            rewards.sum(axis=1),
            (gift.sum(1) * (2.0 - 1.0)) - cost.sum(1) - fine_taken.sum(1),
            atol=1e-9,
        )
        assert np.all(core.resources >= 0)


def test_every_agent_is_a_donor_once_per_round_and_receives_once():
    core = envs.make_vec("donor-v0", num_envs=5)
    core.reset(seed=3)
    for _ in range(20):
        _, _, _, _, info = core.step(np.full((5, 12), 4))
        rec = info["recipients"]
        assert np.all(rec != np.arange(12))
        np.testing.assert_array_equal(np.sort(rec, axis=1), np.tile(np.arange(12), (5, 1)))


# ---------------------------------------------------------------------------- norms
@pytest.mark.parametrize("norm", sorted(BINARY_TABLES))
@pytest.mark.parametrize("cooperate", [True, False])
@pytest.mark.parametrize("recipient_good", [G, B])
@pytest.mark.parametrize("donor_before", [G, B])
def test_binary_norm_table_entry(norm, cooperate, recipient_good, donor_before):
    action = LEVEL[0.5] if cooperate else LEVEL[0.0]
    core, _, _ = one_round(
        2,
        [action, LEVEL[0.0]],
        [1, 0],
        reputation=[donor_before, recipient_good],
        norm=norm,
        **NO_ERRORS,
    )
    assert core.reputation[0, 0] == BINARY_TABLES[norm][(cooperate, recipient_good)]
    assert bool(core.good[0, 0]) == (BINARY_TABLES[norm][(cooperate, recipient_good)] == G)


@pytest.mark.parametrize("cooperate", [True, False])
@pytest.mark.parametrize("recipient_score", [-5, -1, 0, 3])
@pytest.mark.parametrize("donor_score", [-5, -2, 0, 4, 5])
def test_image_scoring_table_entry(cooperate, recipient_score, donor_score):
    action = LEVEL[1.0] if cooperate else LEVEL[0.0]
    core, _, _ = one_round(
        2,
        [action, LEVEL[0.0]],
        [1, 0],
        reputation=[donor_score, recipient_score],
        norm="image_scoring",
        **NO_ERRORS,
    )
    expected = min(donor_score + 1, 5) if cooperate else max(donor_score - 1, -5)
    assert core.reputation[0, 0] == expected
    assert bool(core.good[0, 0]) == (expected >= 0)


def test_image_scoring_bound_is_a_parameter():
    core, _, _ = one_round(
        2, [LEVEL[1.0], LEVEL[0.0]], [1, 0], reputation=[2, -2], score_bound=2, **NO_ERRORS
    )
    np.testing.assert_array_equal(core.reputation[0], [2, -2])


def test_zero_fraction_is_defection_and_punishment_counts_as_defection():
    core, _, _ = one_round(
        3,
        [LEVEL[0.0], 5, LEVEL[0.25]],
        [1, 2, 0],
        reputation=[G, G, G],
        norm="stern_judging",
        punishment=True,
        **NO_ERRORS,
    )
    np.testing.assert_array_equal(core.reputation[0], [B, B, G])


def test_execution_error_is_judged_as_defection():
    core, _, info = one_round(
        2,
        [LEVEL[1.0], LEVEL[1.0]],
        [1, 0],
        reputation=[G, G],
        norm="stern_judging",
        execution_error=1.0,
        assessment_error=0.0,
    )
    np.testing.assert_array_equal(info["donated"][0], [0.0, 0.0])
    np.testing.assert_array_equal(core.reputation[0], [B, B])
    np.testing.assert_array_equal(core.resources[0], [10.0, 10.0])


def test_assessment_error_one_inverts_every_verdict():
    core, _, _ = one_round(
        2,
        [LEVEL[1.0], LEVEL[0.0]],
        [1, 0],
        reputation=[G, G],
        norm="stern_judging",
        execution_error=0.0,
        assessment_error=1.0,
    )
    np.testing.assert_array_equal(core.reputation[0], [B, G])


# ---------------------------------------------------------------------------- error rates
def binomial_ok(hits: int, trials: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(hits - p * trials) <= sigmas * np.sqrt(trials * p * (1 - p))


@pytest.mark.parametrize("rate", [0.02, 0.1])
def test_execution_errors_fire_at_their_rate(rate):
    core = envs.make_vec("donor-v0", num_envs=100, execution_error=rate, assessment_error=0.0)
    core.reset(seed=11)
    actions = np.tile(np.array([LEVEL[1.0], LEVEL[0.25], LEVEL[0.0]] * 4), (100, 1))
    failed = trials = 0
    for _ in range(12):
        _, _, _, _, info = core.step(actions)
        positive = actions > 0
        failed += int((info["donated"][positive] == 0).sum())
        trials += int(positive.sum())
        assert np.all(info["donated"][~positive] == 0)  # errors never create a donation
        assert np.all(np.isin(info["donated"][positive], [0.0, 0.25, 1.0]))
    assert binomial_ok(failed, trials, rate), (failed, trials)


@pytest.mark.parametrize("norm", ["stern_judging", "image_scoring"])
def test_assessment_errors_fire_at_their_rate(norm):
    rate = 0.1
    core = envs.make_vec(
        "donor-v0", num_envs=100, norm=norm, execution_error=0.0, assessment_error=rate
    )
    core.reset(seed=5)
    rng = np.random.default_rng(0)
    wrong = trials = 0
    for _ in range(core.num_rounds - 1):  # the last round auto-resets the reputations
        before, recipients = core.reputation, core.recipients
        actions = rng.integers(0, 5, size=(100, 12))
        core.step(actions)
        after = core.reputation
        cooperated = actions > 0
        if norm == "stern_judging":
            recipient_good = np.take_along_axis(before, recipients, axis=1) == G
            verdict = np.where(cooperated == recipient_good, G, B)  # the table, written out
            wrong += int((after != verdict).sum())
            trials += after.size
        else:  # image scoring: the score moves by +1 / -1, and an error flips the sign
            intended = np.where(cooperated, 1, -1)
            interior = np.abs(before) < 5  # at the bound a clipped change would hide the sign
            wrong += int(((after - before)[interior] == -intended[interior]).sum())
            trials += int(interior.sum())
    assert binomial_ok(wrong, trials, rate), (wrong, trials)
