"""Level-Based Foraging: the batched core, its registered ids and the EPyMARL/lbforaging aliases.

``foraging-v0`` is the canonical id (keyword arguments as in :class:`ForagingCore`). Every
lbforaging-style name ``Foraging[-grid][-Ks]-RxC-Pp-Ff[-coop][-pen]-v3`` (e.g.
``Foraging-8x8-2p-2f-coop-v3``, ``Foraging-2s-10x10-3p-3f-v3``, ``Foraging-15x15-4p-5f-v3``)
resolves to it with the parameters the name encodes: field size, players, food, sight K
(default: the whole field), ``force_coop``, ``penalty=0.1`` for ``-pen``,
``grid_observation`` for ``-grid``; 50-step episodes and player levels 1..2 as lbforaging.
"""

from __future__ import annotations

import itertools
import re

from envs import register, register_alias, register_torch_core
from envs.foraging.core import ACTION_NAMES, ForagingCore

__all__ = ["ForagingCore", "ACTION_NAMES", "lbforaging_kwargs"]

register(
    "foraging-v0",
    ForagingCore,
    description="Level-Based Foraging (lbforaging 2.0.0 rules, defects fixed)",
    pettingzoo_namespace="marlgym",
)

register_torch_core("foraging-v0", "envs.foraging.torch_core:TorchForagingCore")

ALIAS = (
    r"Foraging(?P<grid>-grid)?(?:-(?P<sight>\d+)s)?-(?P<rows>\d+)x(?P<cols>\d+)-(?P<players>\d+)p"
    r"-(?P<food>\d+)f(?P<coop>-coop)?(?P<pen>-pen)?-v3"
)


def lbforaging_kwargs(match: re.Match) -> dict:
    """The ForagingCore keyword arguments an lbforaging-style id stands for."""
    rows, cols = int(match["rows"]), int(match["cols"])
    return {
        "field_size": (rows, cols),
        "players": int(match["players"]),
        "max_num_food": int(match["food"]),
        "sight": int(match["sight"]) if match["sight"] else max(rows, cols),
        "force_coop": bool(match["coop"]),
        "penalty": 0.1 if match["pen"] else 0.0,
        "grid_observation": bool(match["grid"]),
        "min_player_level": 1,
        "max_player_level": 2,
        "min_food_level": 1,
        "max_food_level": None,
        "max_episode_steps": 50,
    }


#: lbforaging 2.0.0's ids (sizes 5-19, 2-9 players, coop or not, full or 2-cell sight) with 1-5
#: food (lbforaging registers 1-4; EPyMARL's 15x15-4p-5f needs 5), for PettingZoo's registry
LBFORAGING_IDS = tuple(
    f"Foraging{'-2s' if partial else ''}-{s}x{s}-{p}p-{f}f{'-coop' if coop else ''}-v3"
    for s, p, f, coop, partial in itertools.product(
        range(5, 20), range(2, 10), range(1, 6), (True, False), (True, False)
    )
)

register_alias(
    ALIAS,
    lambda m: ("foraging-v0", lbforaging_kwargs(m)),
    pettingzoo_ids=LBFORAGING_IDS,
    pettingzoo_namespace="marlgym",
    examples=(
        "Foraging-8x8-2p-2f-coop-v3",
        "Foraging-2s-10x10-3p-3f-v3",
        "Foraging-10x10-3p-3f-v3",
        "Foraging-15x15-4p-5f-v3",
        "Foraging-5x5-2p-1f-coop-v3",
        "Foraging-grid-2s-8x8-2p-2f-coop-v3",
    ),
)
