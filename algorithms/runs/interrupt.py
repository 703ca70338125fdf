"""Ctrl-C during training: finish the current update, save a checkpoint, stop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


class DeferredInterrupt:
    """Turns the first Ctrl-C into a flag checked between updates; a second one stops at once."""

    def __init__(self, notify: Callable[[str], None]):
        self.requested = False
        self.notify = notify
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.notify(
            "interrupt: finishing this update, then saving a checkpoint (Ctrl-C again to stop now)"
        )

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
