"""Readers of the TNTP formats (TransportationNetworks for Research) and the shipped networks.

A net file is a metadata block (``<NUMBER OF NODES> 24`` ... ``<END OF METADATA>``) and one
line per directed link: init node, term node, capacity, length, free-flow time, B, power,
then optionally speed, toll and link type, ending with ``;``. A trips file is a metadata
block then ``Origin o`` headers each followed by ``d : flow;`` entries. Lines starting
with ``~`` are comments. Node coordinates come as a TNTP node file (``node x y ;``) or as
GeoJSON points with an ``id`` property.

Every malformed input raises :class:`TNTPFormatError`, whose message starts with
``<file>:<line>:``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np

from envs.routing.network import Network

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Shipped networks: name -> (folder, net file, trips file, node file or None).
SHIPPED = {
    "braess": ("Braess", "Braess_net.tntp", "Braess_trips.tntp", None),
    "siouxfalls": (
        "SiouxFalls",
        "SiouxFalls_net.tntp",
        "SiouxFalls_trips.tntp",
        "SiouxFalls_node.tntp",
    ),
    "anaheim": ("Anaheim", "Anaheim_net.tntp", "Anaheim_trips.tntp", "anaheim_nodes.geojson"),
}

_META = re.compile(r"^<([^>]+)>\s*(.*?)\s*$")
_ORIGIN = re.compile(r"^origin\s+(\S+)\s*;?\s*$", re.IGNORECASE)
_ENTRY = re.compile(r"^(\S+)\s*:\s*(\S+)$")


class TNTPFormatError(ValueError):
    """A TNTP file that cannot be read; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def load_tntp(
    net_path: str | Path,
    trips_path: str | Path,
    node_path: str | Path | None = None,
    name: str | None = None,
) -> Network:
    """Read a TNTP net file and trips file (and optionally node coordinates) into a Network.

    Args:
        net_path: the ``*_net.tntp`` file.
        trips_path: the ``*_trips.tntp`` file (zero and intrazonal entries are dropped).
        node_path: a ``*_node.tntp`` file or a ``.geojson`` of points, or None.
        name: the network's label (default: the net file's name without ``_net.tntp``).
    """
    net_path, trips_path = Path(net_path), Path(trips_path)
    meta, links = _read_net(net_path)
    num_nodes = meta["NUMBER OF NODES"]
    num_zones = meta["NUMBER OF ZONES"]
    origin, destination, demand = _read_trips(trips_path, num_zones)
    coordinates = None
    if node_path is not None:
        node_path = Path(node_path)
        if node_path.suffix.lower() in (".geojson", ".json"):
            coordinates = _read_geojson_nodes(node_path, num_nodes)
        else:
            coordinates = _read_node_table(node_path, num_nodes)
    if name is None:
        name = re.sub(r"_net$", "", net_path.stem)
    return Network(
        name=name,
        num_nodes=num_nodes,
        num_zones=num_zones,
        first_thru_node=meta["FIRST THRU NODE"],
        init_node=links[:, 0].astype(np.int64) - 1,
        term_node=links[:, 1].astype(np.int64) - 1,
        capacity=links[:, 2],
        length=links[:, 3],
        free_flow_time=links[:, 4],
        b=links[:, 5],
        power=links[:, 6],
        toll=links[:, 8],
        link_type=links[:, 9].astype(np.int64),
        origin=origin - 1,
        destination=destination - 1,
        demand=demand,
        coordinates=coordinates,
    )


def load_network(name: str) -> Network:
    """One of the shipped networks, by name: ``"braess"``, ``"siouxfalls"`` or ``"anaheim"``.

    The result is cached per process (it also carries the cached paths and reference
    solutions), so every env built on the same network shares one copy.
    """
    key = (
        name.lower().replace("-", "").replace("_", "").replace(" ", "")
        if isinstance(name, str)
        else name
    )
    if key not in SHIPPED:
        raise ValueError(
            f"unknown network {name!r}; the shipped networks are {sorted(SHIPPED)} "
            f"(or pass a Network from load_tntp)"
        )
    return _load_shipped(key)


@functools.cache
def _load_shipped(key: str) -> Network:
    folder, net, trips, nodes = SHIPPED[key]
    base = DATA_DIR / folder
    return load_tntp(base / net, base / trips, base / nodes if nodes else None, name=folder)


# ---------------------------------------------------------------------------------- readers
def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise TNTPFormatError(path, None, f"cannot read the file ({err.strerror or err})") from err


def _read_metadata(path: Path, lines: list[str]) -> tuple[dict[str, str], dict[str, int], int]:
    """The ``<KEY> value`` block: values, the line of each key, and the first line after it."""
    meta: dict[str, str] = {}
    where: dict[str, int] = {}
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("~"):
            continue
        match = _META.match(line)
        if match is None:
            raise TNTPFormatError(
                path,
                i + 1,
                f"expected a metadata line '<KEY> value' or '<END OF METADATA>', got {line[:60]!r}",
            )
        key = " ".join(match.group(1).upper().split())
        if key == "END OF METADATA":
            return meta, where, i + 1
        meta[key] = match.group(2)
        where[key] = i + 1
    raise TNTPFormatError(path, len(lines), "no '<END OF METADATA>' line")


def _meta_int(
    path: Path, meta: dict, where: dict, key: str, default: int | None = None, minimum: int = 0
) -> int:
    if key not in meta:
        if default is not None:
            return default
        raise TNTPFormatError(path, None, f"the metadata has no <{key}>")
    text = meta[key].strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value) or value < minimum:
        raise TNTPFormatError(
            path, where[key], f"<{key}> must be an integer >= {minimum}, got {text!r}"
        )
    return int(value)


def _number(path: Path, line: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TNTPFormatError(path, line, f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise TNTPFormatError(path, line, f"{what} must be finite, got {text!r}")
    return value


_LINK_FIELDS = (
    "init node",
    "term node",
    "capacity",
    "length",
    "free-flow time",
    "B",
    "power",
    "speed",
    "toll",
    "link type",
)


def _read_net(path: Path) -> tuple[dict[str, int], np.ndarray]:
    """Metadata and a ``[L, 10]`` table of link fields (absent optional fields are 0)."""
    lines = _lines(path)
    raw_meta, where, start = _read_metadata(path, lines)
    meta = {
        "NUMBER OF NODES": _meta_int(path, raw_meta, where, "NUMBER OF NODES", minimum=1),
        "NUMBER OF LINKS": _meta_int(path, raw_meta, where, "NUMBER OF LINKS", minimum=0),
        "NUMBER OF ZONES": _meta_int(path, raw_meta, where, "NUMBER OF ZONES", minimum=0),
        "FIRST THRU NODE": _meta_int(
            path, raw_meta, where, "FIRST THRU NODE", default=1, minimum=1
        ),
    }
    num_nodes = meta["NUMBER OF NODES"]
    if meta["NUMBER OF ZONES"] > num_nodes:
        raise TNTPFormatError(
            path,
            where["NUMBER OF ZONES"],
            f"<NUMBER OF ZONES> {meta['NUMBER OF ZONES']} exceeds <NUMBER OF NODES> {num_nodes}",
        )
    rows = []
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line or line.startswith("~"):
            continue
        fields = line.replace(";", " ").split()
        if not fields:
            continue
        lineno = i + 1
        if not 7 <= len(fields) <= 10:
            raise TNTPFormatError(
                path,
                lineno,
                f"a link line needs 7 to 10 fields ({', '.join(_LINK_FIELDS)}), got {len(fields)}",
            )
        row = [_number(path, lineno, text, what) for text, what in zip(fields, _LINK_FIELDS)]
        row += [0.0] * (10 - len(row))
        for k in (0, 1):
            if row[k] != int(row[k]) or not 1 <= row[k] <= num_nodes:
                raise TNTPFormatError(
                    path,
                    lineno,
                    f"{_LINK_FIELDS[k]} must be a node number in 1..{num_nodes}, got {fields[k]!r}",
                )
        if row[0] == row[1]:
            raise TNTPFormatError(path, lineno, f"link {fields[0]} -> {fields[1]} is a loop")
        if row[2] <= 0:
            raise TNTPFormatError(path, lineno, f"capacity must be positive, got {fields[2]!r}")
        for k in (3, 4, 5, 6):
            if row[k] < 0:
                raise TNTPFormatError(
                    path, lineno, f"{_LINK_FIELDS[k]} must be non-negative, got {fields[k]!r}"
                )
        rows.append(row)
    if len(rows) != meta["NUMBER OF LINKS"]:
        raise TNTPFormatError(
            path,
            where["NUMBER OF LINKS"],
            f"<NUMBER OF LINKS> says {meta['NUMBER OF LINKS']} but the file lists {len(rows)} links",
        )
    table = np.array(rows, dtype=np.float64).reshape(-1, 10)
    return meta, table


def _read_trips(path: Path, num_zones: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OD pairs with positive demand (1-based zones), in file order."""
    lines = _lines(path)
    raw_meta, where, start = _read_metadata(path, lines)
    zones = _meta_int(path, raw_meta, where, "NUMBER OF ZONES", minimum=0)
    if zones != num_zones:
        raise TNTPFormatError(
            path,
            where["NUMBER OF ZONES"],
            f"<NUMBER OF ZONES> is {zones} here but {num_zones} in the net file",
        )
    flows: dict[tuple[int, int], float] = {}
    origin = None
    total = 0.0
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line or line.startswith("~"):
            continue
        lineno = i + 1
        match = _ORIGIN.match(line)
        if match:
            value = _number(path, lineno, match.group(1), "the origin")
            if value != int(value) or not 1 <= value <= num_zones:
                raise TNTPFormatError(
                    path, lineno, f"origin must be a zone in 1..{num_zones}, got {match.group(1)!r}"
                )
            origin = int(value)
            continue
        if origin is None:
            raise TNTPFormatError(
                path, lineno, f"expected 'Origin <zone>' before demand entries, got {line[:60]!r}"
            )
        for entry in line.split(";"):
            entry = entry.strip()
            if not entry:
                continue
            parts = _ENTRY.match(entry)
            if parts is None:
                raise TNTPFormatError(
                    path, lineno, f"a demand entry must read 'destination : flow', got {entry!r}"
                )
            dest = _number(path, lineno, parts.group(1), "the destination")
            if dest != int(dest) or not 1 <= dest <= num_zones:
                raise TNTPFormatError(
                    path,
                    lineno,
                    f"destination must be a zone in 1..{num_zones}, got {parts.group(1)!r}",
                )
            flow = _number(path, lineno, parts.group(2), f"the flow to {parts.group(1)}")
            if flow < 0:
                raise TNTPFormatError(
                    path, lineno, f"the flow to {parts.group(1)} is negative: {parts.group(2)!r}"
                )
            key = (origin, int(dest))
            if key in flows:
                raise TNTPFormatError(
                    path, lineno, f"the pair {origin} -> {int(dest)} is listed twice"
                )
            flows[key] = flow
            total += flow
    if "TOTAL OD FLOW" in raw_meta:
        stated = _number(path, where["TOTAL OD FLOW"], raw_meta["TOTAL OD FLOW"], "<TOTAL OD FLOW>")
        if abs(stated - total) > 1e-6 * max(1.0, abs(stated)) + 0.01:
            warnings.warn(
                f"{path}: <TOTAL OD FLOW> says {stated:g} but the entries sum to {total:g}",
                stacklevel=3,
            )
    pairs = [(o, d, f) for (o, d), f in flows.items() if f > 0 and o != d]
    if not pairs:
        raise TNTPFormatError(path, None, "no positive demand between distinct zones")
    table = np.array(pairs, dtype=np.float64)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]


def _read_node_table(path: Path, num_nodes: int) -> np.ndarray:
    """A TNTP node file: a header line, then ``node x y ;`` lines."""
    lines = _lines(path)
    coords = np.full((num_nodes, 2), np.nan)
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("~"):
            continue
        fields = line.replace(";", " ").split()
        if fields[0].lower() == "node":
            continue
        if len(fields) < 3:
            raise TNTPFormatError(path, i + 1, f"a node line needs 'node x y', got {line[:60]!r}")
        node = _number(path, i + 1, fields[0], "the node")
        if node != int(node) or not 1 <= node <= num_nodes:
            raise TNTPFormatError(path, i + 1, f"node must be in 1..{num_nodes}, got {fields[0]!r}")
        coords[int(node) - 1] = [
            _number(path, i + 1, fields[1], "x"),
            _number(path, i + 1, fields[2], "y"),
        ]
    return _complete(path, coords)


def _read_geojson_nodes(path: Path, num_nodes: int) -> np.ndarray:
    """GeoJSON points whose ``id`` property is the 1-based node number."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TNTPFormatError(path, err.lineno, f"invalid JSON: {err.msg}") from None
    except OSError as err:
        raise TNTPFormatError(path, None, f"cannot read the file ({err.strerror or err})") from err
    coords = np.full((num_nodes, 2), np.nan)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise TNTPFormatError(
            path, None, "expected a GeoJSON FeatureCollection with a 'features' list"
        )
    for k, feature in enumerate(features):
        try:
            props = feature.get("properties") or {}
            node = props.get("id", props.get("node"))
            x, y = feature["geometry"]["coordinates"][:2]
            node, x, y = int(node), float(x), float(y)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise TNTPFormatError(
                path, None, f"feature {k} is not a point with an 'id' property"
            ) from None
        if not 1 <= node <= num_nodes:
            raise TNTPFormatError(
                path, None, f"feature {k} has node id {node}, outside 1..{num_nodes}"
            )
        coords[node - 1] = [x, y]
    return _complete(path, coords)


def _complete(path: Path, coords: np.ndarray) -> np.ndarray:
    missing = np.flatnonzero(np.isnan(coords[:, 0]))
    if missing.size:
        raise TNTPFormatError(
            path,
            None,
            f"no coordinates for node(s) {(missing[:5] + 1).tolist()}"
            f"{' ...' if missing.size > 5 else ''}",
        )
    return coords
