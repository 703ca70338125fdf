"""A small pygame canvas shared by the family renderers.

Each family draws its own picture on ``canvas.surface``; the canvas owns what is common:
the off-screen surface, the window in ``"human"`` mode (opened lazily, events pumped so it
stays responsive), frame rate, text, and the conversion to an ``[H, W, 3]`` uint8 array.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402


class Canvas:
    """An off-screen pygame surface, optionally mirrored to a window.

    Args:
        width, height: size in pixels.
        mode: ``"rgb_array"`` (``present`` returns the frame) or ``"human"`` (it draws to a
            window and returns None).
        title: the window caption.
        fps: the human-mode frame rate.
    """

    def __init__(self, width: int, height: int, mode: str, title: str = "marlgym", fps: int = 5):
        if mode not in ("human", "rgb_array"):
            raise ValueError(f"render mode must be 'human' or 'rgb_array', got {mode!r}")
        pygame.font.init()
        self.mode = mode
        self.title = title
        self.fps = fps
        self.surface = pygame.Surface((int(width), int(height)))
        self._window = None
        self._clock = None
        self._fonts: dict[int, pygame.font.Font] = {}

    def font(self, size: int) -> pygame.font.Font:
        if size not in self._fonts:
            self._fonts[size] = pygame.font.Font(None, size)
        return self._fonts[size]

    def text(
        self,
        text: str,
        pos: tuple[float, float],
        size: int = 18,
        color=(0, 0, 0),
        center: bool = False,
    ) -> None:
        """Draw ``text`` with its top-left (or centre) at ``pos``."""
        image = self.font(size).render(str(text), True, color)
        rect = image.get_rect()
        if center:
            rect.center = (int(pos[0]), int(pos[1]))
        else:
            rect.topleft = (int(pos[0]), int(pos[1]))
        self.surface.blit(image, rect)

    def present(self) -> np.ndarray | None:
        """Show the surface (human) or return it as an ``[H, W, 3]`` uint8 array."""
        if self.mode == "rgb_array":
            return np.ascontiguousarray(pygame.surfarray.array3d(self.surface).transpose(1, 0, 2))
        if self._window is None:
            pygame.display.init()
            pygame.display.set_caption(self.title)
            self._window = pygame.display.set_mode(self.surface.get_size())
            self._clock = pygame.time.Clock()
        pygame.event.pump()
        self._window.blit(self.surface, (0, 0))
        pygame.display.flip()
        if pygame.display.get_driver() != "dummy":  # pace frames only where someone can watch
            self._clock.tick(self.fps)
        return None

    def close(self) -> None:
        if self._window is not None:
            pygame.display.quit()
            self._window = None


def heading_colour(angle: np.ndarray) -> np.ndarray:
    """Map angles in radians to RGB colours on a hue wheel, ``[..., 3]`` uint8."""
    hue = (np.asarray(angle) % (2 * np.pi)) / (2 * np.pi) * 6.0
    x = 1 - np.abs(hue % 2 - 1)
    zeros = np.zeros_like(hue)
    ones = np.ones_like(hue)
    sector = np.floor(hue).astype(int) % 6
    choices = [
        np.stack([ones, x, zeros], -1),
        np.stack([x, ones, zeros], -1),
        np.stack([zeros, ones, x], -1),
        np.stack([zeros, x, ones], -1),
        np.stack([x, zeros, ones], -1),
        np.stack([ones, zeros, x], -1),
    ]
    out = np.choose(sector[..., None], choices)
    return (out * 220).astype(np.uint8)
