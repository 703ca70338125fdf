"""The URB renderer: one day's link loads of humans (left) and of CAVs (right), side by side.

Each panel draws the network as :class:`~envs.routing.rendering.RoutingRenderer` lays it out
(its public geometry: ``nodes`` and the offset link ``ends``), link colour = that group's
volume over capacity, width = its flow; the header gives the day, the phase and both groups'
mean travel times today and before CAVs appeared.
"""

from __future__ import annotations

import numpy as np
import pygame

from envs.rendering import Canvas
from envs.routing.network import Network
from envs.routing.rendering import (
    BACKGROUND,
    FOOTER,
    HEADER,
    MARGIN,
    MAX_WIDTH,
    NODE,
    SIZE,
    ZONE,
    RoutingRenderer,
    volume_colour,
)


class UrbRenderer:
    """Two panels (humans, CAVs) of one network on one canvas.

    Args:
        network: the network.
        mode: ``"rgb_array"`` or ``"human"``.
        fps: the human-mode frame rate.
        flow_scale: the flow drawn at full width.
    """

    def __init__(self, network: Network, mode: str, fps: int = 4, flow_scale: float = 1.0):
        self.network = network
        geometry = RoutingRenderer(network, "rgb_array", fps, flow_scale)
        self.nodes, self.ends = geometry.nodes, geometry.ends
        geometry.close()
        self.flow_scale = max(float(flow_scale), 1e-9)
        self.canvas = Canvas(
            2 * SIZE, SIZE + HEADER + FOOTER, mode, f"marlgym URB: {network.name}", fps
        )
        self.node_radius = 6 if network.num_nodes <= 50 else 2

    def draw(
        self,
        human_flow: np.ndarray,
        cav_flow: np.ndarray,
        day: int,
        phase: str,
        metrics: dict[str, float],
    ) -> np.ndarray | None:
        """Draw one day: ``human_flow`` and ``cav_flow`` are ``[L]`` link flows of each group,
        ``day`` the CAV days driven so far (0: the last human-learning day)."""
        surface = self.canvas.surface
        surface.fill(BACKGROUND)
        for panel, (flow, name) in enumerate(((human_flow, "humans"), (cav_flow, "CAVs"))):
            self._panel(np.asarray(flow, dtype=np.float64), panel * SIZE)
            self.canvas.text(name, (panel * SIZE + MARGIN, HEADER + 4), 20)
        self.canvas.text(f"{self.network.name}   CAV day {day}   ({phase})", (MARGIN, 8), 24)

        def pair(group: str) -> str:
            now, before = metrics.get(f"{group}_time", np.nan), metrics.get(f"{group}_time_before")
            if not np.isfinite(now):
                return "-"
            return f"{now:.2f} (before {before:.2f})"

        line = f"mean travel time: humans {pair('human')}    CAVs {pair('cav')}"
        self.canvas.text(line, (MARGIN, 32), 20)
        return self.canvas.present()

    def _panel(self, flow: np.ndarray, left: int) -> None:
        net = self.network
        surface = self.canvas.surface
        colour = volume_colour(flow / net.capacity)
        width = 1 + np.round((MAX_WIDTH - 1) * np.clip(flow / self.flow_scale, 0.0, 1.0))
        for link in np.argsort(flow, kind="stable"):  # heavy links on top
            (x0, y0), (x1, y1) = self.ends[link]
            pygame.draw.line(
                surface,
                tuple(int(c) for c in colour[link]),
                (x0 + left, y0),
                (x1 + left, y1),
                int(width[link]),
            )
        for i, (x, y) in enumerate(self.nodes):
            zone = i < net.num_zones
            radius = self.node_radius + (1 if zone else 0)
            pygame.draw.circle(surface, ZONE if zone else NODE, (int(x + left), int(y)), radius)

    def close(self) -> None:
        self.canvas.close()
