"""docs/tutorials/training.md says what the code does: its recurrent learners, its MPE module
and its sweep grid are checked against the code here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import envs
from algorithms import ALGORITHMS
from benchmarks.grid import grid_from_dict
from train import ConfigError, build, load_config

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "tutorials" / "training.md").read_text()


def _section(title: str) -> str:
    return PAGE.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _block(language: str, first_line: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", PAGE, re.DOTALL)
    return next(b for b in blocks if b.startswith(first_line))


def test_the_recurrent_section_names_the_learners_that_take_and_refuse_it():
    bullets = [line for line in _section("Recurrent policies").split("\n- ")[1:]]
    named = [set(re.findall(r"`(\w+)`", b)) & set(ALGORITHMS) for b in bullets]
    networkless = set().union(*(n for n, b in zip(named, bullets) if "no network" in b))
    refused = set().union(*(n for n, b in zip(named, bullets) if "refuse" in b)) - networkless
    accepted = set().union(*(n for n, b in zip(named, bullets) if "refuse" not in b))
    assert accepted | refused | networkless == set(ALGORITHMS)
    assert not accepted & refused and not (accepted | refused) & networkless
    for name in sorted(ALGORITHMS):
        key = "algo.il_cfg.net.recurrent" if name == "mansa" else "algo.net.recurrent"
        overrides = [f"algo={name}", f"{key}=true", "env.num_envs=2"]
        if name == "decpomfc":  # a swarm learner: it refuses the default foraging env
            overrides.append("env.id=swarming-vicsek-v0")
        if name in networkless:
            with pytest.raises(ConfigError, match="unknown config key 'algo.net'"):
                build(load_config(None, overrides))
        elif name in refused:
            with pytest.raises(ConfigError, match="recurrent=true is not supported"):
                build(load_config(None, overrides))
        else:
            _, learner = build(load_config(None, overrides))
            assert learner.policy() is None or learner.policy().spec.recurrent


def test_the_sweep_example_crosses_as_the_page_says():
    grid = grid_from_dict(yaml.safe_load(_block("yaml", "# sweep.yaml")))
    labels = [a.label for a in grid.algorithms]
    assert len(labels) == 2 + 8 and "ippo[gamma=0.95]" in labels
    assert "mappo[gamma=0.99,lr=0.0003,ent_coef=0.01]" in labels
    assert "`mappo[gamma=0.99,lr=0.0003,ent_coef=0.01]`" in PAGE


def test_the_mpe_module_trains_through_the_generic_path(tmp_path, monkeypatch):
    pytest.importorskip("mpe2", reason="PettingZoo's MPE is the mpe2 package (pip install mpe2)")
    (tmp_path / "my_mpe.py").write_text(_block("python", "# my_mpe.py"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    if "mpe-simple-spread-v3" not in envs.list_envs():
        envs.import_env_modules(["my_mpe"], str(tmp_path))
    core = envs.make_vec("mpe-simple-spread-v3", 2, N=2)
    obs, _ = core.reset(seed=0)
    assert obs.shape[:2] == (2, 2)
    actions = np.random.default_rng(0).integers(0, core.action_space.n, size=(2, 2))
    obs, reward, *_ = core.step(actions)
    assert reward.shape[0] == 2 and np.isfinite(reward).all()
    cfg = load_config(None, ["env.id=mpe-simple-spread-v3", "algo=mappo", "env.num_envs=2"])
    assert build(cfg)[1] is not None


def test_the_device_section_names_the_learners_that_train_on_a_torch_core():
    section = _section("Envs on a torch device")
    named = set(re.findall(r"`(\w+)`", section.split("learners (", 1)[1].split(")", 1)[0]))
    able = {name for name, (_, cls) in ALGORITHMS.items() if cls.trains_on_device}
    assert named == able
