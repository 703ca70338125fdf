"""Where food may go, and the layouts a user gives to ``reset(options=...)``.

The placement rule (lbforaging's): food only in rows/cols ``1 .. size-2``, never within the
3x3 neighbourhood of other food nor within distance 2 along its row or column. A layout
given as ``{"players": [(row, col, level), ...], "food": [(row, col, level), ...]}`` is
checked here so that every observation stays inside the observation space: integer
coordinates on the grid, no two things on one cell, levels within the space's bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# cells a placed food blocks for other food: its 3x3 neighbourhood and 2 steps along row/col
FOOD_BLOCK = np.array(
    [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)] + [(-2, 0), (2, 0), (0, -2), (0, 2)],
    dtype=np.int64,
)

Triple = tuple[int, int, int]


def max_food_that_fits(rows: int, cols: int) -> int:
    """How many foods the placement rule fits on an empty field (greedy row-major packing)."""
    blocked = np.zeros((rows + 4, cols + 4), dtype=bool)
    count = 0
    for r in range(1, rows - 1):
        for c in range(1, cols - 1):
            if not blocked[r + 2, c + 2]:
                count += 1
                blocked[r + 2 + FOOD_BLOCK[:, 0], c + 2 + FOOD_BLOCK[:, 1]] = True
    return count


def check_layout(
    options: Mapping,
    rows: int,
    cols: int,
    num_players: int,
    max_num_food: int,
    max_player_level: int,
    max_food_level: int,
) -> tuple[list[Triple], list[Triple]]:
    """The players and food of a layout as integer ``(row, col, level)`` triples.

    Args:
        options: the reset options, with ``players`` (``num_players`` triples) and ``food``
            (1 to ``max_num_food`` triples).
        rows, cols: the field size.
        max_player_level, max_food_level: the highest levels the observation space holds.

    Raises:
        ValueError: naming the offending entry and what is allowed.
    """
    players = _triples(options, "players", "player")
    food = _triples(options, "food", "food")
    if len(players) != num_players:
        raise ValueError(
            f"options['players'] must list {num_players} (row, col, level) triples, "
            f"got {len(players)}"
        )
    if not 1 <= len(food) <= max_num_food:
        raise ValueError(
            f"options['food'] must list 1..{max_num_food} (row, col, level) triples "
            f"(max_num_food), got {len(food)}"
        )
    top = {
        "player": (max_player_level, "max_player_level"),
        "food": (max_food_level, "max_food_level, or the sum of the 3 lowest max_player_level"),
    }
    seen: dict[tuple[int, int], str] = {}
    for kind, items in (("player", players), ("food", food)):
        highest, source = top[kind]
        for i, (r, c, lvl) in enumerate(items):
            if not (0 <= r < rows and 0 <= c < cols):
                raise ValueError(
                    f"{kind} {i} at ({r}, {c}) is off the grid: rows are 0..{rows - 1}, "
                    f"cols 0..{cols - 1}"
                )
            if not 1 <= lvl <= highest:
                raise ValueError(
                    f"{kind} {i} has level {lvl}; {kind} levels must be in 1..{highest} "
                    f"({source}: the observation space's bound)"
                )
            if (r, c) in seen:
                raise ValueError(f"{kind} {i} at ({r}, {c}) overlaps {seen[(r, c)]}")
            seen[(r, c)] = f"{kind} {i}"
    return players, food


def _triples(options: Mapping, key: str, kind: str) -> list[Triple]:
    items = options.get(key, [])
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, (Sequence, np.ndarray)):
        raise ValueError(
            f"options[{key!r}] must be a list of (row, col, level) triples, got {items!r}"
        )
    out = []
    for i, item in enumerate(items):
        if (
            isinstance(item, (str, bytes, Mapping))
            or not isinstance(item, (Sequence, np.ndarray))
            or len(item) != 3
        ):
            raise ValueError(f"{kind} {i} must be (row, col, level), got {item!r}")
        for value in item:
            if not _integral(value):
                raise ValueError(
                    f"{kind} {i} must be (row, col, level) integers, got {item!r}: "
                    f"{value!r} is not an integer"
                )
        out.append(tuple(int(v) for v in item))
    return out


def _integral(value) -> bool:
    """An int, a numpy integer or a whole float (not a bool, NaN or infinity)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and float(value).is_integer()
