"""URB's benchmark scripts on tiny settings: they run end to end and print their tables."""

from __future__ import annotations

import json

import pytest

from benchmarks import urb_headline, urb_side_by_side
from tests.test_urb_sumo import needs_sumo


def test_headline_trains_and_compares_with_references(capsys):
    urb_headline.main(
        [
            *("--algos", "iql", "--seeds", "0", "--train-days", "8", "--copies", "2"),
            *("--eval-days", "2", "--eval-copies", "1"),
        ]
    )
    out = capsys.readouterr().out
    for row in ("| all-or-nothing CAVs | 0 |", "| random CAVs | 0 |", "| iql (greedy) | 0 |"):
        assert row in out
    assert "User-equilibrium mean travel time: 92.00" in out


@needs_sumo
def test_side_by_side_reads_routerls_line(tmp_path, capsys):
    peer = tmp_path / "routerl.json"
    peer.write_text(
        "SUMO chatter\n"
        + json.dumps({"network": "nguyen", "days": 2, "days_per_s": 0.5, "mean_time": [12.0, 11.0]})
    )
    urb_side_by_side.main(["--days", "2", "--tail", "1", "--routerl", str(peer)])
    out = capsys.readouterr().out
    assert "| RouteRL 2.0.0 (nguyen) | 2 | 0.50 | 12.00 | 11.00 | 0.00 |" in out
    assert out.count("| marlgym ") == 3


def test_unknown_learner_is_refused():
    with pytest.raises(SystemExit):
        urb_headline.main(["--algos", "dqn"])
