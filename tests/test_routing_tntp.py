"""TNTP reading: the shipped networks, round trips of generated files, and malformed input."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.routing import Network, TNTPFormatError, load_network, load_tntp

BRAESS_NET = """<NUMBER OF ZONES> 2
<NUMBER OF NODES> 4
<FIRST THRU NODE> 1
<NUMBER OF LINKS> 5
<END OF METADATA>

~\tinit_node\tterm_node\tcapacity\tlength\tfree_flow_time\tb\tpower\tspeed\ttoll\tlink_type\t;
\t1\t3\t1\t100\t0.00000001\t1000000000\t1\t0\t0\t1\t;
\t1\t4\t1\t100\t50\t0.02\t1\t0\t0\t1\t;
\t3\t2\t1\t100\t50\t0.02\t1\t0\t0\t1\t;
\t3\t4\t1\t100\t10\t0.1\t1\t0\t0\t1\t;
\t4\t2\t1\t100\t0.00000001\t1000000000\t1\t0\t0\t1;
"""
BRAESS_TRIPS = """<NUMBER OF ZONES> 2
<TOTAL OD FLOW> 6.0
<END OF METADATA>

Origin \t1
    1 :      0.0;     2 :     6.0;
"""


def _write(folder: Path, net: str = BRAESS_NET, trips: str = BRAESS_TRIPS) -> tuple[Path, Path]:
    net_path, trips_path = folder / "x_net.tntp", folder / "x_trips.tntp"
    net_path.write_text(net)
    trips_path.write_text(trips)
    return net_path, trips_path


def _line_of(text: str, fragment: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if fragment in line)


# ---------------------------------------------------------------------------------- shipped data
@pytest.mark.parametrize(
    "name, nodes, links, zones, first_thru, pairs, demand, has_coordinates",
    [
        ("braess", 4, 5, 2, 1, 1, 6.0, False),
        ("siouxfalls", 24, 76, 24, 1, 528, 360_600.0, True),
        ("anaheim", 416, 914, 38, 39, 1406, 104_694.4, True),
    ],
)
def test_shipped_networks_match_their_readmes(
    name, nodes, links, zones, first_thru, pairs, demand, has_coordinates
):
    net = load_network(name)
    assert (net.num_nodes, net.num_links, net.num_zones, net.first_thru_node) == (
        nodes,
        links,
        zones,
        first_thru,
    )
    assert net.num_od_pairs == pairs
    assert net.total_demand == pytest.approx(demand, rel=1e-9)
    assert (net.coordinates is not None) == has_coordinates
    assert load_network(name) is load_network(name.upper())  # cached per process


def test_shipped_files_live_in_the_package():
    from envs.routing.tntp import DATA_DIR, SHIPPED

    for folder, *files in SHIPPED.values():
        for file in files:
            if file is not None:
                assert (DATA_DIR / folder / file).is_file()
    assert "/work/shared" not in str(DATA_DIR)


def test_braess_fields_are_read_zero_based(tmp_path):
    net = load_tntp(*_write(tmp_path))
    assert net.name == "x"
    np.testing.assert_array_equal(net.init_node, [0, 0, 2, 2, 3])
    np.testing.assert_array_equal(net.term_node, [2, 3, 1, 3, 1])
    np.testing.assert_allclose(net.free_flow_time, [1e-8, 50, 50, 10, 1e-8])
    np.testing.assert_allclose(net.b, [1e9, 0.02, 0.02, 0.1, 1e9])
    assert (net.origin.tolist(), net.destination.tolist(), net.demand.tolist()) == ([0], [1], [6.0])


def test_unknown_network_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="siouxfalls"):
        load_network("gotham")


# ---------------------------------------------------------------------------------- round trips
@st.composite
def networks(draw):
    nodes = draw(st.integers(2, 7))
    zones = draw(st.integers(2, nodes))
    pairs = [(a, b) for a in range(1, nodes + 1) for b in range(1, nodes + 1) if a != b]
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=12))
    positive = st.floats(0.5, 1e4, allow_nan=False)
    links = [
        (
            a,
            b,
            draw(positive),
            draw(positive),
            draw(st.floats(0, 100)),
            draw(st.floats(0, 2)),
            draw(st.sampled_from([1.0, 2.0, 4.0])),
        )
        for a, b in chosen
    ]
    od = draw(
        st.dictionaries(
            st.tuples(st.integers(1, zones), st.integers(1, zones)),
            st.floats(0.0, 5e3).map(lambda v: round(v, 2)),
            min_size=1,
            max_size=10,
        )
    )
    od = {key: v for key, v in od.items() if key[0] != key[1]}
    if not any(v > 0 for v in od.values()):
        od[(1, 2)] = 7.5
    first_thru = draw(st.integers(1, zones + 1))
    return nodes, zones, first_thru, links, od


def _format(nodes, zones, first_thru, links, od) -> tuple[str, str]:
    net = [
        f"<NUMBER OF ZONES> {zones}",
        f"<NUMBER OF NODES> {nodes}",
        f"<FIRST THRU NODE> {first_thru}",
        f"<NUMBER OF LINKS> {len(links)}",
        "<END OF METADATA>",
        "",
        "~ init term cap len fft b power ;",
    ]
    net += [
        "\t" + "\t".join(repr(v) for v in (a, b, cap, ln, fft, bb, pw, 0, 0, 1)) + "\t;"
        for a, b, cap, ln, fft, bb, pw in links
    ]
    trips = [
        f"<NUMBER OF ZONES> {zones}",
        f"<TOTAL OD FLOW> {sum(od.values())!r}",
        "<END OF METADATA>",
        "",
    ]
    for origin in sorted({o for o, _ in od}):
        trips.append(f"Origin {origin}")
        trips.append(" ".join(f"{d} : {v!r};" for (o, d), v in sorted(od.items()) if o == origin))
    return "\n".join(net) + "\n", "\n".join(trips) + "\n"


@settings(max_examples=40, deadline=None)
@given(networks())
def test_written_networks_read_back_identically(spec):
    nodes, zones, first_thru, links, od = spec
    net_text, trips_text = _format(*spec)
    with tempfile.TemporaryDirectory() as folder:
        net = load_tntp(*_write(Path(folder), net_text, trips_text))
    table = np.array(links, dtype=float)
    assert (net.num_nodes, net.num_zones, net.first_thru_node) == (nodes, zones, first_thru)
    np.testing.assert_array_equal(net.init_node, table[:, 0] - 1)
    np.testing.assert_array_equal(net.term_node, table[:, 1] - 1)
    for column, field in enumerate(("capacity", "length", "free_flow_time", "b", "power"), start=2):
        np.testing.assert_array_equal(getattr(net, field), table[:, column])
    expected = {(o - 1, d - 1): v for (o, d), v in od.items() if v > 0}
    got = {(int(o), int(d)): float(v) for o, d, v in zip(net.origin, net.destination, net.demand)}
    assert got == expected


# ---------------------------------------------------------------------------------- malformed input
NET_CASES = [
    # (description, old text, new text, fragment of the message, line holding the fault or None)
    (
        "no end of metadata",
        "<END OF METADATA>",
        "<END METADATA",
        "expected a metadata line",
        "<END METADATA",
    ),
    (
        "non-numeric capacity",
        "\t1\t4\t1\t100\t50",
        "\t1\t4\tlots\t100\t50",
        "capacity is not a number",
        "lots",
    ),
    (
        "too few fields",
        "\t3\t4\t1\t100\t10\t0.1\t1\t0\t0\t1\t;",
        "\t3\t4\t1\t100\t;",
        "needs 7 to 10 fields",
        "\t3\t4\t1\t100\t;",
    ),
    (
        "node out of range",
        "\t3\t2\t1\t100",
        "\t3\t9\t1\t100",
        "term node must be a node number in 1..4",
        "\t3\t9",
    ),
    (
        "zero capacity",
        "\t1\t4\t1\t100\t50",
        "\t1\t4\t0\t100\t50",
        "capacity must be positive",
        "\t1\t4\t0\t100",
    ),
    (
        "negative free-flow time",
        "\t3\t2\t1\t100\t50",
        "\t3\t2\t1\t100\t-50",
        "free-flow time must be non-negative",
        "-50",
    ),
    (
        "link count",
        "<NUMBER OF LINKS> 5",
        "<NUMBER OF LINKS> 6",
        "says 6 but the file lists 5",
        "<NUMBER OF LINKS>",
    ),
    (
        "bad node count",
        "<NUMBER OF NODES> 4",
        "<NUMBER OF NODES> four",
        "<NUMBER OF NODES> must be an integer",
        "four",
    ),
    ("self loop", "\t3\t4\t1\t100\t10", "\t3\t3\t1\t100\t10", "is a loop", "\t3\t3\t1"),
    (
        "missing node count",
        "<NUMBER OF NODES> 4\n",
        "",
        "the metadata has no <NUMBER OF NODES>",
        None,
    ),
]


@pytest.mark.parametrize("case", NET_CASES, ids=[c[0] for c in NET_CASES])
def test_malformed_net_files_name_file_and_line(tmp_path, case):
    _, old, new, fragment, line_text = case
    assert old in BRAESS_NET
    text = BRAESS_NET.replace(old, new, 1)
    net_path, trips_path = _write(tmp_path, net=text)
    with pytest.raises(TNTPFormatError) as err:
        load_tntp(net_path, trips_path)
    message = str(err.value)
    assert fragment in message
    if line_text is None:
        assert message.startswith(f"{net_path}: ")
    else:
        assert message.startswith(f"{net_path}:{_line_of(text, line_text)}: ")
        assert err.value.line == _line_of(text, line_text)


TRIPS_CASES = [
    ("entry before origin", "Origin \t1\n", "", "expected 'Origin <zone>'", "1 :"),
    (
        "destination not a zone",
        "2 :     6.0;",
        "3 :     6.0;",
        "destination must be a zone in 1..2",
        "3 :",
    ),
    ("malformed entry", "2 :     6.0;", "2 -     6.0;", "must read 'destination : flow'", "2 -"),
    ("negative flow", "2 :     6.0;", "2 :    -6.0;", "is negative", "-6.0"),
    ("non-numeric flow", "2 :     6.0;", "2 :     six;", "is not a number", "six"),
    ("repeated pair", "2 :     6.0;", "2 :     6.0;  2 : 1.0;", "listed twice", "2 : 1.0"),
    (
        "zone count differs",
        "<NUMBER OF ZONES> 2",
        "<NUMBER OF ZONES> 3",
        "but 2 in the net file",
        "<NUMBER OF ZONES>",
    ),
    ("no demand", "2 :     6.0;", "2 :     0.0;", "no positive demand", None),
]


@pytest.mark.parametrize("case", TRIPS_CASES, ids=[c[0] for c in TRIPS_CASES])
def test_malformed_trips_files_name_file_and_line(tmp_path, case):
    _, old, new, fragment, line_text = case
    assert old in BRAESS_TRIPS
    text = BRAESS_TRIPS.replace(old, new, 1)
    net_path, trips_path = _write(tmp_path, trips=text)
    with pytest.raises(TNTPFormatError) as err, warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # <TOTAL OD FLOW> no longer matches: a warning, not the point here
        load_tntp(net_path, trips_path)
    message = str(err.value)
    assert fragment in message
    prefix = (
        f"{trips_path}: " if line_text is None else f"{trips_path}:{_line_of(text, line_text)}: "
    )
    assert message.startswith(prefix)


def test_missing_file_is_named(tmp_path):
    net_path, _ = _write(tmp_path)
    with pytest.raises(TNTPFormatError, match="nowhere_trips.tntp: cannot read"):
        load_tntp(net_path, tmp_path / "nowhere_trips.tntp")


def test_total_od_flow_mismatch_warns(tmp_path):
    paths = _write(
        tmp_path, trips=BRAESS_TRIPS.replace("<TOTAL OD FLOW> 6.0", "<TOTAL OD FLOW> 9.0")
    )
    with pytest.warns(UserWarning, match="says 9 but the entries sum to 6"):
        load_tntp(*paths)


def test_node_files(tmp_path):
    paths = _write(tmp_path)
    table = tmp_path / "x_node.tntp"
    table.write_text("Node\tX\tY\t;\n1\t0\t0\t;\n2\t3\t0\t;\n3\t1\t1\t;\n4\t1\t-1\t;\n")
    np.testing.assert_array_equal(
        load_tntp(*paths, node_path=table).coordinates, [[0, 0], [3, 0], [1, 1], [1, -1]]
    )
    table.write_text("Node\tX\tY\t;\n1\t0\t0\t;\n2\t3\t0\t;\n")
    with pytest.raises(TNTPFormatError, match=r"no coordinates for node\(s\) \[3, 4\]"):
        load_tntp(*paths, node_path=table)
    table.write_text("Node\tX\tY\t;\n1\t0\t0\t;\n7\t3\t0\t;\n")
    with pytest.raises(TNTPFormatError, match=r"x_node.tntp:3: node must be in 1..4"):
        load_tntp(*paths, node_path=table)
    geo = tmp_path / "nodes.geojson"
    geo.write_text(
        '{"type": "FeatureCollection", "features": [\n'
        + ",\n".join(
            f'{{"type": "Feature", "properties": {{"id": {i}}}, "geometry": {{"type": "Point", "coordinates": [{i}, {-i}]}}}}'
            for i in range(1, 5)
        )
        + "]}"
    )
    np.testing.assert_array_equal(load_tntp(*paths, node_path=geo).coordinates[:, 0], [1, 2, 3, 4])
    geo.write_text('{"type": "FeatureCollection",\n "features": [oops]}')
    with pytest.raises(TNTPFormatError, match=r"nodes.geojson:2: invalid JSON"):
        load_tntp(*paths, node_path=geo)


# ---------------------------------------------------------------------------------- Network
def test_network_rejects_bad_parameters():
    base = {
        "name": "t",
        "num_nodes": 3,
        "num_zones": 2,
        "first_thru_node": 1,
        "init_node": [0, 2],
        "term_node": [2, 1],
        "capacity": [1.0, 1.0],
        "free_flow_time": [1.0, 1.0],
        "b": [0.15, 0.15],
        "power": [4.0, 4.0],
        "origin": [0],
        "destination": [1],
        "demand": [5.0],
    }
    Network(**base)
    for change, fragment in [
        ({"capacity": [1.0, 0.0]}, "capacity must be positive"),
        ({"b": [0.15, -1.0]}, "b must be finite and non-negative"),
        ({"destination": [2]}, "every destination must be a zone"),
        ({"demand": [0.0]}, "demand must be positive"),
        ({"origin": [1]}, "origin == destination"),
        ({"term_node": [2]}, "term_node must have one entry per link"),
        ({"coordinates": [[0, 0]]}, "coordinates must be a finite"),
        ({"first_thru_node": 0}, "first_thru_node is 1-based"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            Network(**{**base, **change})


@settings(max_examples=40, deadline=None)
@given(flow=st.lists(st.floats(0.0, 5e4), min_size=76, max_size=76))
def test_bpr_derivatives_match_finite_differences(flow):
    net = load_network("siouxfalls")
    x = np.asarray(flow) + 1.0
    h = 1e-3 * (1.0 + x)
    np.testing.assert_allclose(
        net.link_time_derivative(x),
        (net.link_time(x + h) - net.link_time(x - h)) / (2 * h),
        rtol=1e-4,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        net.marginal_cost_derivative(x),
        (net.marginal_cost(x + h) - net.marginal_cost(x - h)) / (2 * h),
        rtol=1e-4,
        atol=1e-9,
    )
    step = np.zeros_like(x)
    step[0] = h[0]
    beckmann_slope = (net.beckmann(x + step) - net.beckmann(x - step)) / (2 * h[0])
    assert beckmann_slope == pytest.approx(net.link_time(x)[0], rel=1e-5)
    assert net.tstt(x) == pytest.approx(float(x @ net.link_time(x)))
