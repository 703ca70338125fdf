"""Who donates to whom each round: random matching and the bipartite round-robin.

Both rules give every agent exactly one recipient (never itself) and make every agent the
recipient of exactly one donor per round, so each round is a permutation without fixed
points. Both are vectorised over copies ``[B, N]`` and built from uniforms that the core
draws from each copy's own generator, so a batch reproduces single-copy runs.

**Random matching** (``"random"``): a fresh random cyclic order of the population each
round; every agent donates to the next one in that order. The recipient of each donor is
uniform over the other N - 1 agents.

**Bipartite round-robin** (``"round_robin"``, the schedule of the donor-game study of
Vallinder & Hughes 2024, adapted so that everyone donates every round): at the start of an
episode (and of each generation) the agents are seated at random; seats ``0 .. h-1`` form
half A and seats ``h .. 2h-1`` half B, ``h = N / 2``. In round ``r`` of the schedule
(counted from the seating, modulo h)

    A_k donates to B_((k - r) mod h)   and   B_k donates to A_((k - r) mod h).

Over h consecutive rounds every member of one half donates exactly once to every member of
the other half. (The study rotates half B the same way but lets only one half donate per
round, alternating, and then replays the rounds with roles swapped: 2h rounds in which each
cross pair meets once in each direction. Here both halves donate each round, so the same
set of donations takes h rounds.) N must be even.
"""

from __future__ import annotations

import numpy as np

PAIRINGS = ("random", "round_robin")


def check_pairing(pairing: str, num_agents: int) -> str:
    """Validate a pairing name for a population size; raise naming what is allowed."""
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; valid pairings are {list(PAIRINGS)}")
    if pairing == "round_robin" and num_agents % 2:
        raise ValueError(
            f"pairing='round_robin' splits the population into two equal halves and needs an "
            f"even num_agents, got num_agents={num_agents} (use an even number or pairing='random')"
        )
    return pairing


def random_matching(uniforms: np.ndarray) -> np.ndarray:
    """Recipients ``[B, N]`` from uniforms ``[B, N]``: donate to the next in a random cyclic order."""
    order = np.argsort(uniforms, axis=1)  # [B, N] a uniform random permutation per copy
    recipients = np.empty_like(order)
    rows = np.arange(order.shape[0])[:, None]
    recipients[rows, order] = np.concatenate([order[:, 1:], order[:, :1]], axis=1)  # next in order
    return recipients


def seating(uniforms: np.ndarray) -> np.ndarray:
    """A random seating ``[B, N]`` (agent sitting in each seat) from uniforms ``[B, N]``."""
    return np.argsort(uniforms, axis=1)


def round_robin_schedule(num_agents: int) -> np.ndarray:
    """Seat-level schedule ``[h, N]``: entry ``[r, p]`` is the recipient seat of seat p in round r."""
    h = num_agents // 2
    k = np.arange(h)
    rounds = np.arange(h)[:, None]
    to_b = h + (k[None, :] - rounds) % h  # A_k -> B_(k - r)
    to_a = (k[None, :] - rounds) % h  # B_k -> A_(k - r)
    return np.concatenate([to_b, to_a], axis=1)


def round_robin(seats: np.ndarray, rounds: np.ndarray, schedule: np.ndarray) -> np.ndarray:
    """Recipients ``[B, N]`` for seatings ``[B, N]`` in schedule rounds ``[B]`` (taken modulo h)."""
    h = schedule.shape[0]
    seat_targets = schedule[np.asarray(rounds) % h]  # [B, N] recipient seat of each seat
    recipients = np.empty_like(seats)
    rows = np.arange(seats.shape[0])[:, None]
    recipients[rows, seats] = seats[rows, seat_targets]
    return recipients
