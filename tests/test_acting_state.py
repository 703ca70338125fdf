"""Every learner keeps and writes a policy: acting states for learners without a Policy network.

PMA (a table) and MANSA with switch=act (IL, CL and the switcher on the global state) keep
:meth:`acting_state` as their best policy, are scored on it like the others, write it as
``policy.pt`` / ``policy_best.pt`` acting files, and the render command plays those files.
"""

import hashlib
import io
import json
import os

import numpy as np
import pytest
import torch

import envs
import train
from algorithms import get_algorithm
from algorithms.config import build_config
from algorithms.runs import acting
from algorithms.runs.render import make_policy

pytestmark = pytest.mark.usefixtures("one_thread")

COMMON = [
    "seed=1",
    "eval.every_env_steps=200",
    "eval.episodes=4",
    "eval.absolute_episodes=6",
    "log.progress=false",
    "log.tensorboard=false",
]
PMA = [
    "algo=pma",
    "env.id=routing-braess-v0",
    "env.num_envs=4",
    "env.kwargs.max_days=20",
    "total_env_steps=800",
    "algo.tau=1.0",
    "algo.gamma=0.0",
    "algo.drop_obs_tail=3",
]
MANSA = [
    "algo=mansa",
    "env.id=Foraging-5x5-2p-1f-coop-v3",
    "env.num_envs=4",
    "total_env_steps=480",
    "algo.rollout_length=8",
    "algo.budget=3",
    *(f"algo.{s}.{k}={v}" for s in ("il_cfg", "cl_cfg") for k, v in (("rollout_length", 8),)),
]


def digest(state) -> str:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def run(tmp_path, overrides):
    cfg = train.load_config(None, [*COMMON, f"log.dir={tmp_path}", *overrides])
    seen = {}
    result = train.train(cfg, on_update=lambda learner, metrics: seen.update(learner=learner))
    return result, seen["learner"]


@pytest.mark.parametrize("overrides", [PMA, MANSA], ids=["pma", "mansa_act"])
def test_policyless_learners_keep_score_and_write_their_best_policy(tmp_path, overrides):
    result, learner = run(tmp_path, overrides)
    assert learner.policy() is None and acting.exportable(learner)
    with open(os.path.join(result.run_dir, "eval.json")) as f:
        log = json.load(f)
    seed = next(iter(next(iter(next(iter(log.values())).values())).values()))["seed_1"]
    assert len(seed["absolute_metrics"]["return"]) == 6  # the kept best, re-evaluated
    summary = seed["summary"]
    assert summary["best"] is not None and summary["best"]["absolute_return"] is not None
    assert summary["best"]["step_count"] <= learner.env_steps
    for name in ("policy.pt", "policy_best.pt"):
        path = os.path.join(result.run_dir, name)
        assert acting.is_acting_file(path)
        assert acting.load(path)["metadata"]["algo"] == overrides[0].split("=")[1]
    # the final file holds the trained learner's policy, and plays as it does
    rebuilt = acting.learner_from_file(os.path.join(result.run_dir, "policy.pt"))
    assert digest(rebuilt.acting_state()) == digest(learner.acting_state())
    obs, _ = rebuilt.env.reset(seed=5)
    mask = rebuilt.env.action_mask()
    side = (lambda x: x.il.learner) if learner.act_needs_state else (lambda x: x)  # noqa: E731
    np.testing.assert_array_equal(side(rebuilt).act(obs, mask)[0], side(learner).act(obs, mask)[0])


@pytest.mark.parametrize("overrides", [PMA, MANSA], ids=["pma", "mansa_act"])
def test_playing_a_kept_snapshot_restores_the_learner_exactly(tmp_path, overrides):
    _, learner = run(tmp_path, overrides)
    before = digest({k: v for k, v in learner.state_dict().items() if k != "env"})
    own = learner.acting_state()
    other = {k: v.clone() for k, v in own.items()}
    for key, value in other.items():  # a different policy
        if value.is_floating_point():
            other[key] = value + torch.randn_like(value)
    with acting.playing(learner, other) as policy_state:
        assert policy_state is None  # played by the learner itself
        assert digest(learner.acting_state()) == digest(other)
    assert digest(learner.acting_state()) == digest(own)
    assert digest({k: v for k, v in learner.state_dict().items() if k != "env"}) == before


def test_value_learner_loads_its_policy_weights_back():
    env = envs.make_vec("Foraging-5x5-2p-1f-coop-v3", 2)
    config_cls, learner_cls = get_algorithm("iql")
    a = learner_cls(build_config(config_cls, {}), env, "cpu", 0)
    b = learner_cls(build_config(config_cls, {}), env, "cpu", 7)
    obs, _ = env.reset(seed=0)
    mask = env.action_mask()
    q = lambda learner: learner.policy().net(torch.as_tensor(obs).flatten(2))[0]  # noqa: E731
    assert not torch.equal(q(a), q(b))
    b.load_acting_state(a.acting_state())
    assert torch.equal(q(a), q(b))
    np.testing.assert_array_equal(a.act(obs, mask)[0], b.act(obs, mask)[0])


def test_a_learner_with_neither_policy_nor_acting_state_is_not_exportable():
    class Bare:
        def policy(self):
            return None

        def acting_state(self):
            raise NotImplementedError

    assert not acting.exportable(Bare()) and acting.snapshot(Bare()) is None


def test_render_plays_an_acting_file(tmp_path):
    result, _ = run(tmp_path, PMA)
    source = acting.resolve_checkpoint(result.run_dir, best=True)
    assert source.kind == "acting" and source.env_id == "routing-braess-v0"
    core = envs.make_vec(source.env_id, 1, **source.env_kwargs)
    obs, _ = core.reset(seed=0)
    actions = make_policy("random", core, checkpoint=source)(obs, core)
    assert actions.shape == (1, core.num_agents)


def test_a_damaged_acting_file_is_refused_with_one_message(tmp_path):
    path = tmp_path / "policy.pt"
    torch.save({"format": "marlgym-acting-state", "version": 99}, path)
    with pytest.raises(ValueError, match="acting format version 99"):
        acting.load(str(path))
    with pytest.raises(ValueError, match="acting format version 99"):  # not read as a policy
        acting.resolve_checkpoint(str(path))
    path.write_bytes(b"not torch")
    assert not acting.is_acting_file(str(path))
    with pytest.raises(ValueError, match="not a readable marlgym acting file"):
        acting.load(str(path))
