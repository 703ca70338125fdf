"""One short run per learner, pinned bit for bit: a refactoring must not change what is learned.

Each case trains through ``train.train`` and hashes what the run produced: every tensor and
array in the learner's ``state_dict`` (as a multiset, so renamed or regrouped keys do not
matter, changed numbers do), every non-timing metric in ``metrics.jsonl`` and the evaluation
returns in ``eval.json``. MANSA's cases set the defaults of the day explicitly, so that moving
its defaults does not count as a change of behaviour.

To re-pin after a deliberate change of behaviour, run ``python tests/test_pinned_runs.py`` and
say in the commit why the numbers moved.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest
import torch

import train

COMMON = [
    "env.id=Foraging-5x5-2p-1f-coop-v3",
    "env.num_envs=4",
    "seed=3",
    "total_env_steps=480",
    "eval.every_env_steps=240",
    "eval.episodes=4",
    "eval.absolute_episodes=4",
    "log.progress=false",
    "log.tensorboard=false",
    "checkpoint.every_updates=1000",
]
PPO = ["algo.rollout_length=8", "algo.minibatches=2", "algo.epochs=2"]
VALUE = [
    "algo.rollout_length=4",
    "algo.batch_size=4",
    "algo.buffer_size=64",
    "algo.env_steps_per_update=8",
    "algo.target_update_interval=3",
]
MANSA_OLD_DEFAULTS = [
    "algo.cost=0.01",
    "algo.budget=null",
    "algo.budget_scope=episode",
    "algo.rollout_length=8",
    "algo.switcher.explore=0.0",
    "algo.switcher.stall_input=false",
    "algo.switcher.init_cl_prob=0.5",
    "algo.switcher.mode=learned",
]
SMALL_Q = {
    "batch_size": 4,
    "buffer_size": 64,
    "env_steps_per_update": 8,
    "target_update_interval": 3,
    "epsilon_anneal_steps": 400,
}
CASES = {
    "ippo": ["algo=ippo", *PPO],
    "mappo": ["algo=mappo", *PPO],
    "mfac": ["algo=mfac", *PPO],
    "iql": ["algo=iql", *VALUE, "algo.epsilon_anneal_steps=400"],
    "vdn": ["algo=vdn", *VALUE, "algo.epsilon_anneal_steps=400"],
    "qmix": ["algo=qmix", *VALUE, "algo.epsilon_anneal_steps=400"],
    "mfq": ["algo=mfq", *VALUE, "algo.temperature_anneal_steps=400"],
    "mansa_value": [
        "algo=mansa",
        *MANSA_OLD_DEFAULTS,
        "algo.budget=2",
        "algo.cl_bootstrap=taken",
        *(f"algo.{side}.{k}={v}" for side in ("il_cfg", "cl_cfg") for k, v in SMALL_Q.items()),
    ],
    "mansa_ppo": [
        "algo=mansa",
        "algo.il=ippo",
        "algo.cl=mappo",
        *MANSA_OLD_DEFAULTS,
        *(f"algo.{side}.{k}={v}" for side in ("il_cfg", "cl_cfg") for k, v in (("epochs", 2),)),
    ],
}
#: digest of each case's run (``python tests/test_pinned_runs.py`` prints them)
PINNED = {
    "ippo": "217386062f91ee7fffb8598765a0f6c6dea95e4e6374ed837dc5a8cd6eeb395e",
    "iql": "43b8da541d75eff951f8d309feed1599eec87d08ef84481898e2d99df8bfd827",
    "mansa_ppo": "5e476f425619b1525ca15f8b0ffa8990272392db7e7b13959a95f9988f3385e2",
    "mansa_value": "24d0d198c5227aa189cf3ce47bfbcb322214fdc1229c2a74284c7c089803778f",
    "mappo": "c45b03c2e6fca5a34bc6b9f14986166a42d84bd6af610fbb625ac1efd38caf99",
    "mfac": "bd7a4c6cac6c0d0c410d728a8792da8fe753240a667ded64df35e82a31af78ac",
    "mfq": "1927ee6c2dae8afad8fef8329db7c62f7f2251e4008e7c602a58ca0d6c21f547",
    "qmix": "9c65c3471e08e0f646d727300f2e346ed90ff5715d13f6b3db3be7920950d812",
    "vdn": "9e4b5f83bba2c836b75b7d0ec5a8bd49c96f62f9e533fa0f8b5f9902e8b0b182",
}


def _leaves(obj, out: list[bytes]) -> None:
    if isinstance(obj, torch.Tensor):
        out.append(str(obj.dtype).encode() + obj.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        out.append(str(obj.dtype).encode() + np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        for value in obj.values():
            _leaves(value, out)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _leaves(value, out)


def _timing(key: str) -> bool:
    return key == "charts/SPS" or any(w in key for w in ("time", "seconds", "wall"))


def run_digest(name: str, tmp_dir: str) -> str:
    """Train case ``name`` in ``tmp_dir`` and hash what it produced."""
    cfg = train.load_config(None, [*COMMON, f"log.dir={tmp_dir}", f"run_name={name}", *CASES[name]])
    seen = {}
    result = train.train(cfg, on_update=lambda learner, metrics: seen.update(learner=learner))
    leaves: list[bytes] = []
    _leaves(seen["learner"].state_dict(), leaves)
    digest = hashlib.sha256()
    for leaf in sorted(hashlib.sha256(x).digest() for x in leaves):
        digest.update(leaf)
    with open(f"{result.run_dir}/metrics.jsonl") as f:
        for line in f:
            row = json.loads(line)
            kept = {k: v for k, v in sorted(row.items()) if not _timing(k)}
            digest.update(json.dumps(kept, sort_keys=True).encode())
    with open(f"{result.run_dir}/eval.json") as f:
        digest.update(json.dumps(json.load(f), sort_keys=True).encode())
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_short_run_is_pinned_bit_for_bit(name, tmp_path):
    assert run_digest(name, str(tmp_path)) == PINNED[name]


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for case in sorted(CASES):
            print(f'    "{case}": "{run_digest(case, tmp)}",', file=sys.stdout)
