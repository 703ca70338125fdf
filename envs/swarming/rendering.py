"""Pygame picture of one swarm copy: oriented arrows on the torus, coloured by angle.

Each agent is a small triangle pointing along its heading, coloured on a hue wheel by its
aligned angle (the heading for Vicsek, the phase for Kuramoto), so an ordered flock is one
colour. A strip above the box shows the order parameter and the step. Drawing goes through
the shared :class:`envs.rendering.Canvas`.
"""

from __future__ import annotations

import numpy as np
import pygame

from envs.rendering import Canvas, heading_colour

BOX_PIXELS = 512
HEADER_PIXELS = 28
BACKGROUND = (250, 250, 250)
BORDER = (60, 60, 60)


class SwarmRenderer:
    """Draws swarm frames of a fixed box size and agent count.

    Args:
        box_size: side of the periodic box (world units).
        num_agents: number of agents; sets the arrow size from the mean spacing.
        mode: ``"rgb_array"`` or ``"human"``.
        fps: the human-mode frame rate.
    """

    def __init__(self, box_size: float, num_agents: int, mode: str, fps: int = 20):
        self.canvas = Canvas(
            BOX_PIXELS, BOX_PIXELS + HEADER_PIXELS, mode, title="marlgym swarming", fps=fps
        )
        self.scale = BOX_PIXELS / box_size  # pixels per world unit
        spacing = BOX_PIXELS / np.sqrt(max(num_agents, 1))  # mean distance between agents, pixels
        self.length = float(np.clip(0.5 * spacing, 4.0, 14.0))  # arrow length in pixels

    def draw(
        self,
        positions: np.ndarray,
        headings: np.ndarray,
        colour_angles: np.ndarray,
        label: str,
        step: int,
    ) -> np.ndarray | None:
        """Draw agents at ``positions [N, 2]`` pointing along ``headings [N]``; see :meth:`Canvas.present`."""
        surface = self.canvas.surface
        surface.fill(BACKGROUND)
        pygame.draw.rect(surface, BORDER, (0, HEADER_PIXELS, BOX_PIXELS, BOX_PIXELS), width=1)
        for points, colour in zip(self._arrows(positions, headings), heading_colour(colour_angles)):
            pygame.draw.polygon(surface, tuple(int(c) for c in colour), points.tolist())
        self.canvas.text(f"{label}   step {step}", (8, 6), size=22)
        return self.canvas.present()

    def close(self) -> None:
        self.canvas.close()

    def _arrows(self, positions: np.ndarray, headings: np.ndarray) -> np.ndarray:
        """Triangle corners ``[N, 3, 2]`` in pixels (y grows downwards on screen)."""
        centre = np.stack(
            [
                positions[:, 0] * self.scale,
                HEADER_PIXELS + (BOX_PIXELS - positions[:, 1] * self.scale),
            ],
            axis=-1,
        )
        forward = np.stack([np.cos(headings), -np.sin(headings)], axis=-1) * self.length
        side = np.stack([-forward[:, 1], forward[:, 0]], axis=-1) * 0.35
        tip = centre + 0.6 * forward
        back = centre - 0.4 * forward
        return np.stack([tip, back + side, back - side], axis=1).round()
