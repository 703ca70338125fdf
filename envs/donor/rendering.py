"""Pygame picture of one donor-game copy, drawn on the shared :class:`envs.rendering.Canvas`.

The population sits on a ring: each node's area grows with the agent's resources (relative
to the richest) and its colour shows its reputation (green good, red bad; for image
scoring a red-grey-green scale of the score). The last round's decisions are arrows from
donor to recipient: blue with a width that grows with the donated fraction, a thin grey
line for a zero donation, red for a punishment. A side panel shows the round, generation,
norm and mean resources, and a chart of the cooperation rate of each round so far.
"""

from __future__ import annotations

import numpy as np
import pygame

from envs.rendering import Canvas

WIDTH, HEIGHT = 760, 520
RING_CENTRE = np.array([260.0, 260.0])
RING_RADIUS = 200.0
BACKGROUND = (250, 250, 247)
GOOD, BAD, NEUTRAL = np.array([60, 170, 75]), np.array([210, 60, 50]), np.array([150, 150, 150])
DONATION, DEFECTION, PUNISHMENT = (40, 90, 200), (200, 200, 200), (220, 40, 40)


class DonorRenderer:
    """Draws snapshots built by :meth:`DonorCore._render_snapshot` (one copy each)."""

    def __init__(self, mode: str, fps: int = 4):
        self.canvas = Canvas(WIDTH, HEIGHT, mode, title="marlgym donor game", fps=fps)

    def draw(self, snap: dict) -> np.ndarray | None:
        surface = self.canvas.surface
        surface.fill(BACKGROUND)
        n = len(snap["resources"])
        angles = -np.pi / 2 + 2 * np.pi * np.arange(n) / n
        centres = RING_CENTRE + RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        richest = max(float(snap["resources"].max()), snap["start_resources"])
        radii = 5.0 + 17.0 * np.sqrt(snap["resources"] / richest)
        self._arrows(surface, snap, centres, radii)
        for i in range(n):
            colour = _reputation_colour(
                snap["reputation_value"][i], snap["good"][i], snap["binary"]
            )
            centre = (int(centres[i, 0]), int(centres[i, 1]))
            pygame.draw.circle(surface, colour, centre, int(radii[i]))
            pygame.draw.circle(surface, (40, 40, 40), centre, int(radii[i]), 1)
            label = RING_CENTRE + (RING_RADIUS + 34) * (centres[i] - RING_CENTRE) / RING_RADIUS
            self.canvas.text(str(i), label, size=18, color=(60, 60, 60), center=True)
        self._panel(snap)
        return self.canvas.present()

    def close(self) -> None:
        self.canvas.close()

    def _arrows(self, surface, snap: dict, centres: np.ndarray, radii: np.ndarray) -> None:
        for donor, recipient in enumerate(snap["recipients"]):
            if recipient < 0:
                continue  # no round played yet in this episode
            start, end = centres[donor], centres[recipient]
            direction = end - start
            length = float(np.hypot(*direction))
            if length == 0:
                continue
            unit = direction / length
            side = np.array([-unit[1], unit[0]]) * 4.0  # offset so opposite arrows do not overlap
            tail = start + unit * radii[donor] + side
            head = end - unit * (radii[recipient] + 2) + side
            if snap["punished"][donor]:
                colour, width = PUNISHMENT, 3
            elif snap["donated"][donor] > 0:
                colour, width = DONATION, 1 + round(4 * float(snap["donated"][donor]))
            else:
                colour, width = DEFECTION, 1
            pygame.draw.line(surface, colour, tail, head, width)
            if colour != DEFECTION:
                wing = np.array([-unit[1], unit[0]]) * 5.0
                tip_base = head - unit * 10.0
                pygame.draw.polygon(surface, colour, [head, tip_base + wing, tip_base - wing])

    def _panel(self, snap: dict) -> None:
        x = 530
        text = self.canvas.text
        text("donor game", (x, 24), size=26)
        text(f"round {snap['round']} / {snap['num_rounds']}", (x, 60))
        if snap["generation"] is not None:
            text(f"generation {snap['generation']}", (x, 82))
        text(f"norm: {snap['norm']}", (x, 104))
        text(f"pairing: {snap['pairing']}", (x, 126))
        text(f"mean resources: {snap['resources'].mean():.1f}", (x, 148))
        text(f"good standing: {snap['good'].mean():.0%}", (x, 170))
        text("blue: donation  red: punishment", (x, 200), size=16, color=(90, 90, 90))
        self._chart(snap["cooperation_history"], pygame.Rect(x, 280, 200, 150))

    def _chart(self, history: np.ndarray, box: pygame.Rect) -> None:
        surface = self.canvas.surface
        self.canvas.text("cooperation rate per round", (box.left, box.top - 22), size=16)
        pygame.draw.rect(surface, (255, 255, 255), box)
        pygame.draw.rect(surface, (120, 120, 120), box, 1)
        self.canvas.text("1", (box.left - 12, box.top - 6), size=14)
        self.canvas.text("0", (box.left - 12, box.bottom - 8), size=14)
        played = np.flatnonzero(~np.isnan(history))
        if played.size == 0:
            return
        span = max(len(history) - 1, 1)
        xs = box.left + 4 + (box.width - 8) * played / span
        ys = box.bottom - 4 - (box.height - 8) * history[played]
        points = [(float(a), float(b)) for a, b in zip(xs, ys)]
        if len(points) > 1:
            pygame.draw.lines(surface, DONATION, False, points, 2)
        for point in points:
            pygame.draw.circle(surface, DONATION, (int(point[0]), int(point[1])), 2)


def _reputation_colour(value: float, good: bool, binary: bool) -> tuple[int, int, int]:
    if binary:
        return tuple(int(c) for c in (GOOD if good else BAD))
    # image scoring: blend red -> grey at score 0 -> green at the bound
    target = GOOD if value >= 0 else BAD
    mix = NEUTRAL + abs(float(value)) * (target - NEUTRAL)
    return tuple(int(c) for c in mix)
