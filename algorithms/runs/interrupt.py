"""Ctrl-C or SIGTERM during training: finish the current update, save a checkpoint, stop.

SIGTERM is what a cluster scheduler (Slurm, Kubernetes) sends before it kills a job; it is
handled exactly like Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

#: the signals handled: Ctrl-C and a scheduler's polite kill
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class DeferredInterrupt:
    """Turns the first Ctrl-C or SIGTERM into a flag checked between updates; a second stops at once."""

    def __init__(self, notify: Callable[[str], None]):
        self.requested = False
        self.signum = signal.SIGINT  # the signal that asked to stop
        self.notify = notify
        self._previous: dict[int, object] = {}

    @property
    def name(self) -> str:
        """The signal that asked to stop, as a user knows it (``Ctrl-C``, ``SIGTERM``)."""
        return signal_name(self.signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum
        self.notify(
            f"{self.name}: finishing this update, then saving a checkpoint "
            f"({self.name} again to stop now)"
        )

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        return False
