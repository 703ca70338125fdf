"""benchmarks/value_speed.py: learners and their variants side by side (issue 26's speed check)."""

import json

import pytest

from benchmarks import value_speed


def test_a_variant_trains_beside_its_learner_with_its_own_settings(tmp_path, monkeypatch):
    built = {}
    real = value_speed.build

    def spy(label, seed, overrides):
        learner = real(label, seed, overrides)
        built[label] = learner
        return learner

    monkeypatch.setattr(value_speed, "build", spy)
    out = tmp_path / "speed.json"
    argv = ["--env-steps", "1", "--algos", "iql", "iql/k4", "--out", str(out)]
    argv += ["--variant", "iql/k4=algo.env_steps_per_update=200,algo.target_update_interval=50"]
    assert value_speed.main(argv) == 0
    assert built["iql"].cfg.env_steps_per_update == 50
    assert built["iql/k4"].cfg.env_steps_per_update == 200
    assert built["iql/k4"].cfg.target_update_interval == 50
    report = json.loads(out.read_text())
    assert set(report["learners"]) == {"iql", "iql/k4"}
    assert report["learners"]["iql"]["ratio_to_iql"] == 1.0
    assert report["learners"]["iql/k4"]["overrides"][0] == "algo.env_steps_per_update=200"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algos", "iql", "iql/k4"], "no --variant given for iql/k4"),
        (["--algos", "iql", "--variant", "qmix/k=algo.lr=1"], "with ALGO/NAME in --algos"),
    ],
)
def test_variants_must_name_a_listed_label(argv, message, capsys):
    with pytest.raises(SystemExit):
        value_speed.main(argv)
    assert message in capsys.readouterr().err


def test_the_op_profile_names_where_a_value_learners_updates_go(tmp_path):
    out = tmp_path / "speed.json"
    argv = [
        "--env-steps",
        "3200",
        "--algos",
        "ippo",
        "iql/b2",
        "--variant",
        "iql/b2=algo.batch_size=2",
    ]
    assert value_speed.main([*argv, "--profile-updates", "3", "--out", str(out)]) == 0
    profile = json.loads(out.read_text())["op_profile"]
    assert list(profile) == ["iql/b2"]  # IPPO has no replay updates to profile
    ops = profile["iql/b2"]
    assert ops and all(op["ms_per_update"] > 0 for op in ops)
    assert sum(op["share"] for op in ops) <= 1.0 + 1e-9
    assert any("mm" in op["op"] for op in ops)  # the Q-network's matrix products


def test_an_unknown_learner_is_refused_with_the_shipped_ones(capsys):
    with pytest.raises(SystemExit):
        value_speed.main(["--algos", "iql", "torch_threads=2"])
    err = capsys.readouterr().err
    assert "torch_threads=2" in err and "qmix" in err and "before --algos" in err
