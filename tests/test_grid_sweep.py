"""Hyperparameter sweeps in a grid file (benchmarks/sweep.py): a list of values per train.py
key, crossed, each combination an algorithm entry of its own with its own runs."""

from __future__ import annotations

import pytest

from benchmarks.grid import grid_from_dict
from train import load_config

ENV = "Foraging-5x5-2p-1f-coop-v3"


def _grid(algorithms, **extra):
    return grid_from_dict({"envs": [ENV], "algorithms": algorithms, "seeds": 2, **extra})


def test_an_algorithm_sweep_crosses_its_keys_into_labelled_entries():
    grid = _grid(
        [{"name": "mappo", "sweep": {"algo.lr": [1e-4, 3e-4], "algo.ent_coef": [0.0, 0.01]}}]
    )
    assert [a.label for a in grid.algorithms] == [
        "mappo[lr=0.0001,ent_coef=0]",
        "mappo[lr=0.0001,ent_coef=0.01]",
        "mappo[lr=0.0003,ent_coef=0]",
        "mappo[lr=0.0003,ent_coef=0.01]",
    ]
    cells = grid.cells()
    assert len(cells) == 4 * 2 and len({c.spec.name for c in cells}) == 8
    resolved = {
        (c.algo.label, c.seed): load_config(None, c.spec.overrides).algo for c in cells
    }  # the values reach train.py's config
    assert resolved["mappo[lr=0.0003,ent_coef=0.01]", 1].lr == pytest.approx(3e-4)
    assert resolved["mappo[lr=0.0003,ent_coef=0.01]", 1].ent_coef == pytest.approx(0.01)
    assert resolved["mappo[lr=0.0001,ent_coef=0]", 0].ent_coef == 0.0


def test_the_grid_sweep_crosses_every_algorithm_and_an_own_key_wins():
    grid = _grid(
        [
            "ippo",
            {
                "name": "mappo",
                "label": "M",
                "overrides": {"algo.lr": 1e-3},
                "sweep": {"algo.gamma": [0.9]},
            },
        ],
        sweep={"algo.gamma": [0.95, 0.99]},
    )
    labels = [a.label for a in grid.algorithms]
    assert labels == ["ippo[gamma=0.95]", "ippo[gamma=0.99]", "M[gamma=0.9]"]
    m = grid.algorithms[-1]
    assert m.overrides == ("algo.lr=0.001", "algo.gamma=0.9")


def test_no_sweep_leaves_the_entries_as_they_were():
    grid = _grid(["ippo", {"name": "mappo", "overrides": {"algo.lr": 1e-3}}])
    assert [(a.label, a.overrides) for a in grid.algorithms] == [
        ("ippo", ()),
        ("mappo", ("algo.lr=0.001",)),
    ]


@pytest.mark.parametrize(
    ("algorithms", "extra", "message"),
    [
        (
            [{"name": "ippo", "sweep": {"algo.lr": 3e-4}}],
            {},
            "sweep key algo.lr must list its values",
        ),
        (
            [{"name": "ippo", "sweep": {"algo.lr": []}}],
            {},
            "sweep key algo.lr must list its values",
        ),
        ([{"name": "ippo", "sweep": {"algo.lr": [1, 1]}}], {}, "lists 1 more than once"),
        ([{"name": "ippo", "sweep": ["algo.lr"]}], {}, "sweep must map train.py keys"),
        (["ippo"], {"sweep": "algo.lr"}, "sweep must map train.py keys"),
        ([{"name": "ippo", "sweeps": {}}], {}, "unknown key 'sweeps'; did you mean 'sweep'"),
        (["ippo"], {"swep": {}}, "unknown key 'swep'; did you mean 'sweep'"),
    ],
)
def test_a_malformed_sweep_is_refused_naming_the_entry(algorithms, extra, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        _grid(algorithms, **extra)


def test_a_sweep_value_of_a_wrong_type_fails_when_the_run_config_is_built():
    grid = _grid([{"name": "ippo", "sweep": {"algo.lr": ["fast"]}}])
    with pytest.raises(ValueError, match="algo.lr"):
        load_config(None, grid.cells()[0].spec.overrides)
