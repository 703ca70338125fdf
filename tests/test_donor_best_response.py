"""benchmarks/donor_best_response.py: one focal donor's return among scripted residents."""

import numpy as np
import pytest

from benchmarks import donor_best_response as br


def test_a_giver_among_defectors_loses_its_start_and_defectors_keep_theirs():
    # nobody gives to the focal donor; a giver hands over all it has (an execution error only
    # delays that), a defector keeps its resources: exact figures, no statistics
    assert np.all(
        br.focal_returns("stern_judging", "always-defect", "always-cooperate", 64, seed=1) == -10.0
    )
    assert np.all(
        br.focal_returns("stern_judging", "always-defect", "always-defect", 64, seed=1) == 0.0
    )


def test_under_stern_judging_a_defector_among_discriminators_does_much_worse():
    rows = br.best_responses(["stern_judging"], episodes=200, seed=0)
    row = next(r for r in rows if r["resident"] == "discriminator")
    gain = row["gain_over_resident"]["always-defect"]
    assert gain["gain"] < -10 * gain["stderr"] < 0


def test_rows_pair_every_focal_strategy_with_each_resident():
    rows = br.best_responses(["image_scoring"], episodes=8, seed=0)
    assert [r["resident"] for r in rows] == list(br.STRATEGIES)
    for row in rows:
        assert set(row["mean_return"]) == set(br.STRATEGIES)
        assert set(row["gain_over_resident"]) == set(br.STRATEGIES) - {row["resident"]}
    assert "image_scoring" in br.table(rows)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--episodes", "1"], "--episodes must be at least 2"),
        (["--norms", "kindness"], "invalid choice"),
    ],
)
def test_bad_arguments_are_refused_naming_the_problem(argv, message, capsys):
    with pytest.raises(SystemExit):
        br.main(argv)
    assert message in capsys.readouterr().err
