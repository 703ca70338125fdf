"""Read-only views of the donor game's state, for tests, scripted policies and renderers.

A mixin of :class:`envs.donor.core.DonorCore`: each property returns a copy of the core's
arrays over the whole population (seeded discriminators included), so no caller can change
the game by writing into what it read.
"""

from __future__ import annotations

import numpy as np


class DonorViews:
    """The public views of :class:`~envs.donor.core.DonorCore`'s state (``[B, N]`` / ``[B]``)."""

    @property
    def resources(self) -> np.ndarray:
        """Current resources ``[B, N]`` (a copy)."""
        return self._resources.copy()

    @property
    def reputation(self) -> np.ndarray:
        """Current reputations ``[B, N]``: 0/1 (binary norms) or scores (image scoring)."""
        return self._reputation.copy()

    @property
    def good(self) -> np.ndarray:
        """Whether each agent is in good standing ``[B, N]``."""
        return self.norm.is_good(self._reputation)

    @property
    def recipients(self) -> np.ndarray:
        """The recipient of each donor in the coming round ``[B, N]``."""
        return self._recipients.copy()

    @property
    def seats(self) -> np.ndarray:
        """Round-robin seating ``[B, N]``: the agent in each seat (seats < N/2 form half A)."""
        return self._seats.copy()

    @property
    def schedule_round(self) -> np.ndarray:
        """Round-robin: the coming round's index in the schedule (rounds since seating) ``[B]``."""
        return self._seat_round.copy()

    @property
    def round(self) -> np.ndarray:
        """Rounds played in the current episode ``[B]``."""
        return self._round.copy()

    @property
    def generation(self) -> np.ndarray:
        """Generations started in the current episode ``[B]`` (0 = the first one)."""
        return self._generation.copy()
