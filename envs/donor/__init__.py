"""The donor game of indirect reciprocity (DESIGN 2.4): registered ids and public names.

| id                            | what it fixes                                               |
|-------------------------------|-------------------------------------------------------------|
| ``donor-v0``                  | image scoring, random matching (all defaults)               |
| ``donor-simple-standing-v0``  | ``norm="simple_standing"``                                  |
| ``donor-stern-judging-v0``    | ``norm="stern_judging"``                                    |
| ``donor-shunning-v0``         | ``norm="shunning"``                                         |
| ``donor-punish-v0``           | ``punishment=True`` (image scoring)                         |
| ``donor-generations-v0``      | the donor-game study's setting: round-robin pairing,        |
|                               | 12 rounds per generation, 10 generations (120 rounds)       |

Every parameter of :class:`DonorCore` can be given as a keyword argument to ``envs.make``
/ ``envs.make_vec`` on top of these; the ids are also in PettingZoo's registry as
``marlgym/<id>``.
"""

from envs import register
from envs.donor.core import DonorCore
from envs.donor.norms import NORMS, Norm, get_norm
from envs.donor.policies import (
    AlwaysCooperate,
    AlwaysDefect,
    Discriminator,
    Mixture,
    RandomPolicy,
    TraceReciprocator,
)

__all__ = [
    "NORMS",
    "AlwaysCooperate",
    "AlwaysDefect",
    "Discriminator",
    "DonorCore",
    "Mixture",
    "Norm",
    "RandomPolicy",
    "TraceReciprocator",
    "get_norm",
]

_IDS = {
    "donor-v0": ({}, "donor game, image scoring, random matching"),
    "donor-simple-standing-v0": ({"norm": "simple_standing"}, "donor game, simple standing"),
    "donor-stern-judging-v0": ({"norm": "stern_judging"}, "donor game, stern judging"),
    "donor-shunning-v0": ({"norm": "shunning"}, "donor game, shunning"),
    "donor-punish-v0": ({"punishment": True}, "donor game with costly punishment, image scoring"),
    "donor-generations-v0": (
        {"pairing": "round_robin", "num_rounds": 120, "generation_length": 12},
        "donor game with generations: round-robin, 10 generations of 12 rounds",
    ),
}

for _env_id, (_kwargs, _description) in _IDS.items():
    register(
        _env_id, DonorCore, kwargs=_kwargs, description=_description, pettingzoo_namespace="marlgym"
    )
