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
