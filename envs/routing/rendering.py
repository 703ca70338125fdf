"""Pygame picture of one routing copy: the network, links coloured by volume / capacity.

Nodes sit at the network's coordinates (longitude / latitude are drawn with the local
aspect ratio) or, where a network has none, at a deterministic force-directed layout. Each
link is a line from its tail to its head, shifted to its right so both directions of a
two-way street show; its colour goes green -> yellow -> red as volume / capacity goes
0 -> 0.75 -> 1.5 and beyond, its width grows with the flow. The day's TSTT, relative gap
and price of anarchy are written on top.
"""

from __future__ import annotations

import numpy as np
import pygame

from envs.rendering import Canvas
from envs.routing.network import Network

SIZE = 720
HEADER = 58
FOOTER = 30
MARGIN = 24
BACKGROUND = (248, 248, 244)
NODE = (60, 60, 60)
ZONE = (40, 90, 170)
MAX_WIDTH = 9


def layout(network: Network, iterations: int = 300) -> np.ndarray:
    """Node positions ``[num_nodes, 2]`` (y up): the coordinates, or a force-directed layout."""
    if network.coordinates is not None:
        pos = network.coordinates.astype(np.float64).copy()
        looks_geographic = (
            np.all(np.abs(pos[:, 0]) <= 180)
            and np.all(np.abs(pos[:, 1]) <= 90)
            and np.ptp(pos[:, 0]) < 10
            and np.ptp(pos[:, 1]) < 10
        )
        if looks_geographic:
            pos[:, 0] *= np.cos(np.radians(pos[:, 1].mean()))
        return pos
    return _force_layout(network, iterations)


def _force_layout(network: Network, iterations: int) -> np.ndarray:
    """Fruchterman-Reingold with a fixed start (a circle), so every run draws the same picture."""
    n = network.num_nodes
    angle = 2 * np.pi * np.arange(n) / max(n, 1)
    pos = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if n < 2:
        return pos
    ideal = 1.0 / np.sqrt(n)
    edges = np.stack([network.init_node, network.term_node], axis=1)
    temperature = 0.2
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]  # [n, n, 2]
        dist = np.maximum(np.linalg.norm(delta, axis=2), 1e-6)
        force = np.sum(delta / dist[..., None] * (ideal**2 / dist)[..., None], axis=1)  # repulsion
        span = pos[edges[:, 0]] - pos[edges[:, 1]]
        length = np.maximum(np.linalg.norm(span, axis=1), 1e-6)
        pull = span / length[:, None] * (length**2 / ideal)[:, None]
        np.add.at(force, edges[:, 0], -pull)
        np.add.at(force, edges[:, 1], pull)
        size = np.maximum(np.linalg.norm(force, axis=1), 1e-9)
        pos += force / size[:, None] * np.minimum(size, temperature)[:, None]
        temperature = max(temperature * 0.98, 0.002)
    return pos


def volume_colour(ratio: np.ndarray) -> np.ndarray:
    """Green (0) -> yellow (0.75) -> red (1.5+) for volume / capacity ``ratio``: ``[..., 3]`` uint8."""
    u = np.clip(np.asarray(ratio, dtype=np.float64) / 1.5, 0.0, 1.0)
    red = np.clip(2.0 * u, 0.0, 1.0)
    green = np.clip(2.0 - 2.0 * u, 0.0, 1.0)
    return (np.stack([red * 220, green * 180, np.full_like(u, 40.0)], axis=-1)).astype(np.uint8)


class RoutingRenderer:
    """Draws one copy of a routing core; one instance per core (its window persists).

    Args:
        network: the network to draw.
        mode: ``"rgb_array"`` or ``"human"``.
        flow_scale: the flow drawn at full width (default: the largest capacity).
    """

    def __init__(self, network: Network, mode: str, fps: int = 4, flow_scale: float | None = None):
        self.network = network
        self.canvas = Canvas(
            SIZE, SIZE + HEADER + FOOTER, mode, f"marlgym routing: {network.name}", fps
        )
        pos = layout(network)
        low, high = pos.min(axis=0), pos.max(axis=0)
        span = np.where(high - low > 0, high - low, 1.0)
        scale = (SIZE - 2 * MARGIN) / span.max()
        centre = (SIZE - scale * span) / 2
        screen = np.empty_like(pos)
        screen[:, 0] = centre[0] + (pos[:, 0] - low[0]) * scale
        screen[:, 1] = (
            HEADER + SIZE - (centre[1] + (pos[:, 1] - low[1]) * scale)
        )  # y down on screen
        self.nodes = screen
        tail, head = screen[network.init_node], screen[network.term_node]
        along = head - tail
        length = np.maximum(np.linalg.norm(along, axis=1, keepdims=True), 1e-9)
        right = (
            np.stack([-along[:, 1], along[:, 0]], axis=1) / length
        )  # screen y is down: this is the right
        shift = 2.5 if network.num_links < 200 else 1.5
        self.ends = np.stack([tail + right * shift, head + right * shift], axis=1)  # [L, 2, 2]
        self.flow_scale = float(flow_scale) if flow_scale else float(network.capacity.max())
        self.node_radius = 6 if network.num_nodes <= 50 else 2

    def draw(self, link_flow: np.ndarray, day: int, metrics: dict[str, float]) -> np.ndarray | None:
        net = self.network
        surface = self.canvas.surface
        surface.fill(BACKGROUND)
        colour = volume_colour(link_flow / net.capacity)
        width = 1 + np.round(
            (MAX_WIDTH - 1) * np.clip(link_flow / self.flow_scale, 0.0, 1.0)
        ).astype(int)
        for link in np.argsort(link_flow, kind="stable"):  # heavy links on top
            (x0, y0), (x1, y1) = self.ends[link]
            pygame.draw.line(
                surface, tuple(int(c) for c in colour[link]), (x0, y0), (x1, y1), int(width[link])
            )
        for i, (x, y) in enumerate(self.nodes):
            is_zone = i < net.num_zones
            pygame.draw.circle(
                surface,
                ZONE if is_zone else NODE,
                (int(x), int(y)),
                self.node_radius + (1 if is_zone else 0),
            )
        self.canvas.text(f"{net.name}   day {day}", (MARGIN, 8), 24)
        if np.isfinite(metrics.get("tstt", np.nan)):
            line = (
                f"TSTT {metrics['tstt']:,.0f}    relative gap {metrics['relative_gap']:.2e}    "
                f"price of anarchy {metrics['price_of_anarchy']:.3f}"
            )
        else:
            line = "no traffic yet (free-flow times)"
        self.canvas.text(line, (MARGIN, 32), 20)
        self._legend(HEADER + SIZE + 6)
        return self.canvas.present()

    def _legend(self, top: int) -> None:
        steps = 60
        ratios = np.linspace(0.0, 1.5, steps)
        colours = volume_colour(ratios)
        for i, c in enumerate(colours):
            pygame.draw.rect(
                self.canvas.surface, tuple(int(v) for v in c), (MARGIN + 90 + 3 * i, top + 4, 3, 10)
            )
        self.canvas.text("volume/cap", (MARGIN, top + 2), 16)
        self.canvas.text("0", (MARGIN + 86, top + 15), 14)
        self.canvas.text("1.5+", (MARGIN + 90 + 3 * steps - 8, top + 15), 14)

    def close(self) -> None:
        self.canvas.close()
