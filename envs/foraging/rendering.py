"""Pygame picture of one foraging copy: grid, food with its level, agents with level and id."""

from __future__ import annotations

import numpy as np
import pygame

from envs.rendering import Canvas

CELL = 56
MARGIN = 28
GRID = (200, 200, 200)
BACKGROUND = (250, 250, 245)
FOOD = (214, 96, 40)
AGENT_COLOURS = [
    (40, 110, 200),
    (60, 160, 90),
    (150, 80, 180),
    (200, 160, 30),
    (30, 160, 170),
    (200, 70, 120),
]


class ForagingRenderer:
    """Draws a grid of ``rows x cols`` cells; one instance per core (its window persists)."""

    def __init__(self, rows: int, cols: int, mode: str, fps: int = 5):
        self.rows, self.cols = rows, cols
        self.canvas = Canvas(
            cols * CELL + 2 * MARGIN, rows * CELL + 2 * MARGIN + 24, mode, "marlgym foraging", fps
        )

    def _centre(self, row: int, col: int) -> tuple[int, int]:
        return MARGIN + col * CELL + CELL // 2, MARGIN + row * CELL + CELL // 2

    def draw(
        self,
        pos: np.ndarray,
        level: np.ndarray,
        food_pos: np.ndarray,
        food_level: np.ndarray,
        step: int,
        sight: int,
    ) -> np.ndarray | None:
        surface = self.canvas.surface
        surface.fill(BACKGROUND)
        for r in range(self.rows + 1):
            y = MARGIN + r * CELL
            pygame.draw.line(surface, GRID, (MARGIN, y), (MARGIN + self.cols * CELL, y), 1)
        for c in range(self.cols + 1):
            x = MARGIN + c * CELL
            pygame.draw.line(surface, GRID, (x, MARGIN), (x, MARGIN + self.rows * CELL), 1)
        for (r, c), lvl in zip(food_pos, food_level):
            x, y = self._centre(r, c)
            rect = pygame.Rect(0, 0, CELL - 14, CELL - 14)
            rect.center = (x, y)
            pygame.draw.rect(surface, FOOD, rect, border_radius=8)
            self.canvas.text(str(int(lvl)), (x, y), 26, (255, 255, 255), center=True)
        for i, ((r, c), lvl) in enumerate(zip(pos, level)):
            x, y = self._centre(r, c)
            pygame.draw.circle(
                surface, AGENT_COLOURS[i % len(AGENT_COLOURS)], (x, y), CELL // 2 - 6
            )
            self.canvas.text(str(int(lvl)), (x, y - 4), 26, (255, 255, 255), center=True)
            self.canvas.text(f"#{i}", (x, y + 14), 16, (255, 255, 255), center=True)
        self.canvas.text(
            f"step {step}   sight {sight}", (MARGIN, MARGIN + self.rows * CELL + 6), 20
        )
        return self.canvas.present()

    def close(self) -> None:
        self.canvas.close()
