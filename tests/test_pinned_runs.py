"""One short run per learner, pinned bit for bit: a refactoring must not change what is learned.

Each case trains through ``train.train`` and hashes what the run produced: every tensor and
array in the learner's ``state_dict`` (as a multiset, so renamed or regrouped keys do not
matter, changed numbers do), every non-timing metric in ``metrics.jsonl`` and the evaluation
returns in ``eval.json``. MANSA's cases set the defaults of the day explicitly, so that moving
its defaults does not count as a change of behaviour.

To re-pin after a deliberate change of behaviour, run ``python tests/test_pinned_runs.py`` on
each kind of CPU in ``PINNED`` (or drop the kinds you cannot reach) and say in the commit why
the numbers moved.
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
#: digests of each case's run, per kind of CPU (``python tests/test_pinned_runs.py`` prints this
#: machine's kind and digests). MKL picks its kernels by the CPU's vendor and instruction set,
#: which changes the last bits of a sum and so every digest: a pin holds on the kind of CPU it
#: was taken on. Keys: "<vendor> <torch CPU capability>", or "<vendor>" for any of its kinds.
PINNED = {
    "AuthenticAMD": {
        "ippo": "cfc13342bfffc833e41920470bcdfc3f047388f9bf6a2f5c1ffe749861fd16d3",
        "iql": "b45cd66feab072c68977c64a2ef79b9e57e6fde81506d61b6ab150419b42445b",
        "mansa_ppo": "132a259cd1c9a607ca9cad903c1ac6ebf3f9f593ecca823f5968ffe628382a17",
        "mansa_value": "9c6c88c2b0adbe2814a07bbbc49d0d4b7cd8377d30f7b8b9f153a969f8c1389f",
        "mappo": "d73b99ae556097398afe3653af059ae9c3ce9b7d6e568e6e11fd71b6f0e1e1f3",
        "mfac": "11cb2c1c273cf2e66a979de0197e751e4d16fb54fdb7745e5ac46a76929581bc",
        "mfq": "7fb80ae850a15409ca7db0201494dcecd81ebaa51fab5c508a4d4b53b1233258",
        "qmix": "8b17267a1f63e5d3891597dfdbe3d7061bb370f64929ddaee9623f56ecac6249",
        "vdn": "f3daff41a39d2c0328bb85904189a60a7352b8978028cbc5f35d9fb1a13337ed",
    },
    "GenuineIntel AVX512": {
        "ippo": "0e7fe2f3fe534e0e8866ad7684ab75064c7efa2f1873bb9bfa34190f9b7a58d9",
        "iql": "f68febb397eb8769cec00e7c11863cf7e0468fb2bdb27fafda49b62b69a905e5",
        "mansa_ppo": "568f5c884c9285a931093f7a64ebbd379e61cee53e96bdc08b6a8941d87c3174",
        "mansa_value": "d1895e33a45c0c5d3186df2410c6a1bf94c1dbd22d94c624e9158d4601081f7b",
        "mappo": "88f24d18488970a794f7798cbe53bc3f53a881be1ad59ab6baaa2909668f1ae7",
        "mfac": "29cdde134dc0c20ec201e66029ac11101e3424f18bff852cc0f74e998ddda527",
        "mfq": "87c8e21fe985a5b61faa2a9271742308642923dfad1bda608be48ab43f508712",
        "qmix": "c16b8eeacea819cca865fa591d5e10dabf4d2efc9dbb2ab9d07ceb5b52947e24",
        "vdn": "2133d8b82443483f583fd57f5d3df9e9635081b884eafdbf3be163004344be82",
    },
}


def cpu_kind() -> str:
    """``"<vendor> <capability>"``: the CPU's vendor id and the instruction set torch dispatches to."""
    vendor = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            vendor = next(
                (line.split(":")[1].strip() for line in f if line.startswith("vendor_id")), vendor
            )
    except OSError:
        pass
    return f"{vendor} {torch.backends.cpu.get_cpu_capability()}"


def pins() -> dict[str, str] | None:
    """This kind of CPU's digests, or None where none were taken."""
    kind = cpu_kind()
    return PINNED.get(kind, PINNED.get(kind.split()[0]))


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


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_short_run_is_pinned_bit_for_bit(name, tmp_path):
    pinned = pins()
    if pinned is None:
        pytest.skip(f"no pins taken on this kind of CPU ({cpu_kind()}): see PINNED")
    assert run_digest(name, str(tmp_path)) == pinned[name]


def test_every_kind_of_cpu_pins_every_case():
    assert all(sorted(digests) == sorted(CASES) for digests in PINNED.values())


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    print(f"    # {cpu_kind()}", file=sys.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        for case in sorted(CASES):
            print(f'    "{case}": "{run_digest(case, tmp)}",', file=sys.stdout)
