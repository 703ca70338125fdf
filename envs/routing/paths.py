"""Shortest paths, all-or-nothing loading and k shortest loop-free paths (Yen) on a Network.

Searches run on a :class:`RouteGraph`, the network with two rewrites that keep scipy's
``csgraph.dijkstra`` exact: a zone that may not be passed through (below TNTP's
``<FIRST THRU NODE>``) gets a separate *source copy* that owns its outgoing links, so a
route can start at the zone and end at it but never cross it; and a link parallel to an
earlier one (same ends) is split by a virtual node, so every graph edge is one node pair.

Yen's algorithm is batched: in each round the spur searches of every OD pair (each on the
graph minus its root path and used edges) run as one multi-source Dijkstra over a
block-diagonal graph, one block per search, with A*-like reduced costs that keep each block
small (see :class:`_Yen`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from envs.routing.network import Network

_NO_PRED = -9999  # csgraph's predecessor of a source / unreached node
_BLOCK_EDGES = 2_000_000  # edges in one batched spur search (a block-diagonal graph)
_BLOCK_NODES = 200_000  # nodes in one batched spur search (csgraph allocates per node)


class RouteGraph:
    """The search graph of ``network`` (see the module docstring). One per network; cached.

    Attributes:
        num_graph_nodes: real nodes, then zone source copies, then split nodes.
        source: ``[num_nodes]`` the graph node a route from each node starts at.
        tail, head, link: ``[E]`` graph edges sorted by (tail, head); ``link`` is the network
            link an edge carries, or -1 for the weightless second half of a split link.
    """

    def __init__(self, network: Network):
        n = network.num_nodes
        blocked = network.num_blocked_zones
        tail = network.init_node.copy()
        head = network.term_node.copy()
        from_blocked = tail < blocked
        tail[from_blocked] += n  # node n + z is zone z's source copy
        num = n + blocked
        link = np.arange(network.num_links)
        key = tail * num + head
        order = np.argsort(key, kind="stable")
        first = np.ones(len(order), dtype=bool)
        first[1:] = key[order][1:] != key[order][:-1]
        parallel = np.sort(order[~first])  # links that repeat an earlier (tail, head) pair
        split = num + np.arange(len(parallel))
        num += len(parallel)
        keep = np.ones(len(link), dtype=bool)
        keep[parallel] = False
        tail = np.concatenate([tail[keep], tail[parallel], split])
        head_all = np.concatenate([head[keep], split, head[parallel]])
        link = np.concatenate([link[keep], parallel, np.full(len(parallel), -1)])
        sort = np.lexsort((head_all, tail))
        self.network = network
        self.num_graph_nodes = int(num)
        self.tail, self.head, self.link = tail[sort], head_all[sort], link[sort]
        # where an edge's flow goes: its link, or slot L (discarded) for a split half
        self.link_slot = np.where(self.link >= 0, self.link, network.num_links)
        self._key = self.tail * self.num_graph_nodes + self.head  # sorted, unique
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(self.tail, minlength=num))])
        self.source = np.arange(n)
        self.source[:blocked] += n

    @property
    def num_edges(self) -> int:
        return len(self.tail)

    def edge_weights(self, link_weights: np.ndarray) -> np.ndarray:
        """``[E]`` edge weights from ``[L]`` link weights (split halves weigh 0)."""
        return np.append(np.asarray(link_weights, dtype=np.float64), 0.0)[self.link]

    def matrix(self, link_weights: np.ndarray) -> sp.csr_matrix:
        """The weighted adjacency matrix (explicit zeros are edges for csgraph)."""
        size = self.num_graph_nodes
        return sp.csr_matrix(
            (self.edge_weights(link_weights), self.head, self._indptr), shape=(size, size)
        )

    def edge_index(self, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
        """Edge index of each ``tail -> head`` pair (which must be edges)."""
        return np.searchsorted(
            self._key, np.asarray(tail) * self.num_graph_nodes + np.asarray(head)
        )

    def trees(self, link_weights: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shortest-path trees from each origin node: distances and predecessors ``[O, num_graph_nodes]``."""
        return dijkstra(
            self.matrix(link_weights),
            directed=True,
            indices=self.source[origins],
            return_predecessors=True,
        )


def route_graph(network: Network) -> RouteGraph:
    """The network's search graph, built once and cached on the network."""
    return network.cached("graph", lambda: RouteGraph(network))


def _demand_origins(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """The distinct origins and, for each OD pair, the row of its origin among them."""
    origins, row = np.unique(network.origin, return_inverse=True)
    return origins, row


def all_or_nothing(network: Network, link_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Load every OD pair's demand on its shortest path under ``link_weights [L]``.

    Returns the link flows ``[L]`` and the shortest-path cost of each OD pair ``[P]``; raises
    if some OD pair has no route.
    """
    graph = route_graph(network)
    origins, row = _demand_origins(network)
    dist, pred = graph.trees(link_weights, origins)
    cost = dist[row, network.destination]
    _check_reachable(network, cost)
    flows = np.zeros(network.num_links + 1)  # last slot collects the weightless split halves
    cur = network.destination.copy()
    active = np.ones(len(cur), dtype=bool)
    while True:
        prev = pred[row, cur]
        active &= prev != _NO_PRED
        if not active.any():
            break
        edge = graph.edge_index(prev[active], cur[active])
        flows += np.bincount(
            graph.link_slot[edge], weights=network.demand[active], minlength=network.num_links + 1
        )
        cur = np.where(active, prev, cur)
    return flows[:-1], cost


def od_costs(network: Network, link_weights: np.ndarray) -> np.ndarray:
    """Shortest-path cost of each OD pair ``[P]`` under ``link_weights [L]``."""
    graph = route_graph(network)
    origins, row = _demand_origins(network)
    dist = dijkstra(graph.matrix(link_weights), directed=True, indices=graph.source[origins])
    cost = dist[row, network.destination]
    _check_reachable(network, cost)
    return cost


def _check_reachable(network: Network, cost: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(cost))
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"network {network.name!r}: no route from zone {network.origin[i] + 1} to zone "
            f"{network.destination[i] + 1} (TNTP numbering; {bad.size} OD pair(s) unreachable)"
        )


# ---------------------------------------------------------------------------------- path sets
@dataclass(frozen=True, eq=False)
class PathSet:
    """Paths of every OD pair, those of one pair contiguous and sorted by cost.

    Attributes:
        od: ``[R]`` the OD pair (index into the network's pairs) of each path.
        offsets: ``[P + 1]``: the paths of OD pair ``i`` are ``offsets[i]:offsets[i+1]``.
        links: the link indices of each path, in driving order.
        nodes: the 0-based node sequence of each path.
        cost: ``[R]`` path cost under the weights the paths were found with.
        incidence: ``[R, L]`` sparse 0/1 path-link matrix.
    """

    od: np.ndarray
    offsets: np.ndarray
    links: tuple[np.ndarray, ...]
    nodes: tuple[tuple[int, ...], ...]
    cost: np.ndarray
    incidence: sp.csr_matrix

    @property
    def num_paths(self) -> int:
        return len(self.od)

    @property
    def counts(self) -> np.ndarray:
        """``[P]`` number of paths of each OD pair."""
        return np.diff(self.offsets)

    def paths_of(self, od: int) -> list[np.ndarray]:
        """The link sequences of OD pair ``od``'s paths."""
        return list(self.links[self.offsets[od] : self.offsets[od + 1]])


def k_shortest_paths(
    network: Network, k: int = 3, link_weights: np.ndarray | None = None
) -> PathSet:
    """The ``k`` shortest loop-free paths of every OD pair (Yen's algorithm, Lawler's variant).

    Paths are distinct, never pass through a blocked zone, and are sorted by cost (ties by
    number of links, then node sequence). An OD pair with fewer than ``k`` loop-free paths
    gets all it has.

    Args:
        network: the network; its OD pairs are the searches.
        k: paths per OD pair (a positive integer).
        link_weights: ``[L]`` link costs; default the free-flow times.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    weights = (
        network.free_flow_time
        if link_weights is None
        else np.asarray(link_weights, dtype=np.float64)
    )
    if (
        weights.shape != (network.num_links,)
        or np.any(weights < 0)
        or not np.all(np.isfinite(weights))
    ):
        raise ValueError(f"link_weights must be a finite non-negative [{network.num_links}] array")
    return _Yen(network, weights).run(int(k))


class _Yen:
    """Yen's k shortest loop-free paths for all OD pairs at once.

    Spur searches run on edge weights reduced by the potential ``pi(v)``, the distance from
    ``v`` to the OD pair's destination in the whole graph: ``w + pi(head) - pi(tail) >= 0``
    and pruning only lengthens distances, so this is A* with a heuristic that is exact on
    the unpruned graph, and a spur path's reduced cost is its detour. A first pass gives
    each search only the edges within reduced distance ``limit`` of its spur node (in the
    unpruned graph): a small block. A search that finds nothing there becomes a lazy
    candidate with a lower bound, finished on the whole graph only if that bound could make
    it the next path. The result equals plain Yen's.
    """

    def __init__(self, network: Network, weights: np.ndarray):
        self.network = network
        self.graph = graph = route_graph(network)
        self.edge_w = graph.edge_weights(weights)
        origins, row = _demand_origins(network)
        dist, pred = graph.trees(weights, origins)
        cost = dist[row, network.destination]
        _check_reachable(network, cost)
        dests, self.dest_row = np.unique(network.destination, return_inverse=True)
        pi = dijkstra(graph.matrix(weights).T.tocsr(), directed=True, indices=dests)  # [D, nodes]
        finite = np.isfinite(pi[:, graph.head]) & np.isfinite(pi[:, graph.tail])
        with np.errstate(invalid="ignore"):
            reduced = self.edge_w + pi[:, graph.head] - pi[:, graph.tail]
        # [D, E] the detour of taking each edge towards each destination
        self.reduced = np.where(finite, np.maximum(reduced, 0.0), np.inf)
        self.pi = pi
        self.source = graph.source[network.origin]
        self.found: list[list[tuple]] = [
            [
                _path_key(
                    graph, self.edge_w, _walk(pred[row[i]], self.source[i], network.destination[i])
                )
            ]
            for i in range(network.num_od_pairs)
        ]
        positive = cost[cost > 0]
        self.limit = 0.1 * float(np.median(positive)) if positive.size else 1.0

    def run(self, k: int) -> PathSet:
        num_od = self.network.num_od_pairs
        # per OD pair: candidate nodes -> (sort key, spur index), and lazy (lower bound, job)
        resolved: list[dict[tuple, tuple]] = [{} for _ in range(num_od)]
        lazy: list[list[tuple]] = [[] for _ in range(num_od)]
        start = np.zeros(num_od, dtype=np.int64)  # Lawler: the first spur index worth trying
        for rank in range(1, k):
            active = [i for i in range(num_od) if len(self.found[i]) == rank]
            jobs = [job for i in active for job in self._jobs(i, start[i])]
            self._collect(jobs, self._search(jobs, self.limit), resolved, lazy)
            pending = active
            while pending:
                retry, still = [], []
                for i in pending:
                    best = min(resolved[i].values())[0] if resolved[i] else None
                    # a lazy search is finished when its bound could beat (or tie) the best
                    reach = np.inf if best is None else best[0] + 1e-9 * max(1.0, abs(best[0]))
                    due = [entry for entry in lazy[i] if entry[0] <= reach]
                    if due:
                        lazy[i] = [entry for entry in lazy[i] if entry[0] > reach]
                        retry += [job for _, job in due]
                        still.append(i)
                    elif best is not None:
                        start[i] = resolved[i].pop(best[2])[1]
                        self.found[i].append(best)
                if retry:
                    self._collect(retry, self._search(retry, np.inf), resolved, lazy)
                pending = still
        return _path_set(self.network, self.graph, self.found)

    def _jobs(self, i: int, first: int) -> list[tuple]:
        """OD pair ``i``'s spur searches from its last path: (od, spur index, parent, cuts, bound)."""
        parent = self.found[i][-1][2]
        arr = np.asarray(parent)
        prefix = np.concatenate(
            [[0.0], np.cumsum(self.edge_w[self.graph.edge_index(arr[:-1], arr[1:])])]
        )
        bound = prefix + self.pi[self.dest_row[i], arr]  # root cost + distance left: a lower bound
        jobs = []
        for j in range(first, len(parent) - 1):
            root = parent[: j + 1]
            cuts = [(path[j], path[j + 1]) for _, _, path in self.found[i] if path[: j + 1] == root]
            jobs.append((i, j, parent, cuts, float(bound[j])))
        return jobs

    def _collect(
        self, jobs: list[tuple], results: list, resolved: list[dict], lazy: list[list]
    ) -> None:
        for job, (status, spur) in zip(jobs, results):
            i, j, parent = job[0], job[1], job[2]
            if status == "beyond":
                lazy[i].append((job[4] + self.limit, job))
            elif status == "found":
                nodes = parent[:j] + spur
                if nodes not in resolved[i] and all(nodes != f[2] for f in self.found[i]):
                    resolved[i][nodes] = (_path_key(self.graph, self.edge_w, nodes), j)

    def _search(self, jobs: list[tuple], limit: float) -> list[tuple[str, tuple | None]]:
        """Run the spur searches in blocks of bounded size."""
        if not jobs:
            return []
        size = self.graph.num_graph_nodes
        dest_row = self.dest_row[[job[0] for job in jobs]]
        spur = np.array([job[2][job[1]] for job in jobs], dtype=np.int64)
        if np.isfinite(limit):
            pairs, group = np.unique(dest_row * size + spur, return_inverse=True)
            ptr, edges = self._ball_edges(pairs // size, pairs % size, limit)
        else:
            dest, edges = np.nonzero(np.isfinite(self.reduced))
            ptr = np.concatenate([[0], np.cumsum(np.bincount(dest, minlength=len(self.reduced)))])
            group = dest_row
        first, per_job = ptr[group], ptr[group + 1] - ptr[group]
        results: list = []
        begin, total = 0, np.cumsum(per_job)
        max_jobs = max(1, _BLOCK_NODES // size)
        while begin < len(jobs):
            done = total[begin - 1] if begin else 0
            end = max(begin + 1, int(np.searchsorted(total, done + _BLOCK_EDGES, side="right")))
            end = min(end, begin + max_jobs)
            part = slice(begin, end)
            results.extend(
                self._search_block(
                    jobs[part], dest_row[part], spur[part], first[part], per_job[part], edges, limit
                )
            )
            begin = end
        return results

    def _ball_edges(
        self, dest_row: np.ndarray, spur: np.ndarray, limit: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each (destination, spur node) pair, the edges within reduced distance ``limit``
        of the spur node (CSR: ptr, edge ids sorted by tail)."""
        graph = self.graph
        counts, chunks = [], []
        for d in np.unique(dest_row):
            spurs = spur[dest_row == d]
            finite = np.isfinite(self.reduced[d])
            matrix = sp.csr_matrix(
                (self.reduced[d][finite], (graph.tail[finite], graph.head[finite])),
                shape=(graph.num_graph_nodes,) * 2,
            )
            dist = dijkstra(matrix, directed=True, indices=spurs, limit=limit)  # [S, nodes]
            near = dist[:, graph.tail] + self.reduced[d] <= limit  # [S, E]
            row, edge = np.nonzero(near)
            counts.append(np.bincount(row, minlength=len(spurs)))
            chunks.append(edge)
        ptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
        return ptr, np.concatenate(chunks)

    def _search_block(
        self,
        jobs: list[tuple],
        dest_row: np.ndarray,
        spur: np.ndarray,
        first: np.ndarray,
        per_job: np.ndarray,
        edges: np.ndarray,
        limit: float,
    ) -> list[tuple[str, tuple | None]]:
        """Each job's spur path on its own pruned, potential-reduced block of a block-diagonal graph."""
        graph = self.graph
        size, count = graph.num_graph_nodes, len(jobs)
        block = np.repeat(np.arange(count), per_job)
        start = np.concatenate([[0], np.cumsum(per_job)[:-1]])
        edge = edges[np.arange(len(block)) - np.repeat(start - first, per_job)]
        removed = np.zeros(count * size, dtype=bool)  # each job's root nodes, flattened
        root_flat, cut_flat = [], []
        for b, (_, j, parent, cuts, _) in enumerate(jobs):
            root_flat.extend(b * size + v for v in parent[:j])
            cut_flat.extend((b, tail, head) for tail, head in cuts)
        removed[root_flat] = True
        keep = ~removed[block * size + graph.tail[edge]] & ~removed[block * size + graph.head[edge]]
        if cut_flat:
            cut = np.array(cut_flat, dtype=np.int64)
            cut_key = cut[:, 0] * graph.num_edges + graph.edge_index(cut[:, 1], cut[:, 2])
            keep &= ~np.isin(block * graph.num_edges + edge, cut_key)
        block, edge = block[keep], edge[keep]  # block-major, edges sorted by tail within a block
        rows = graph.tail[edge] + block * size
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=count * size))])
        matrix = sp.csr_matrix(
            (self.reduced[dest_row[block], edge], graph.head[edge] + block * size, indptr),
            shape=(count * size, count * size),
        )
        offset = np.arange(count) * size
        source = spur + offset
        dist, pred, _ = dijkstra(
            matrix,
            directed=True,
            indices=source,
            min_only=True,
            return_predecessors=True,
            limit=limit,
        )
        goal = self.network.destination[[job[0] for job in jobs]] + offset
        reached = np.isfinite(dist[goal])
        steps = [goal]
        live = reached & (goal != source)
        while live.any():
            steps.append(np.where(live, pred[steps[-1]], steps[-1]))
            live &= steps[-1] != source
        # [count, steps]: each block's path from the destination back to its spur node
        trail = np.stack(steps, axis=1) - offset[:, None]
        length = np.argmax(trail == spur[:, None], axis=1) + 1
        miss = "beyond" if np.isfinite(limit) else "none"
        return [
            ("found", tuple(trail[b, : length[b]][::-1].tolist())) if reached[b] else (miss, None)
            for b in range(count)
        ]


def _walk(pred_row: np.ndarray, source: int, target: int) -> tuple[int, ...]:
    nodes = [int(target)]
    while nodes[-1] != source:
        nodes.append(int(pred_row[nodes[-1]]))
    return tuple(reversed(nodes))


def _path_key(graph: RouteGraph, edge_w: np.ndarray, nodes: tuple[int, ...]) -> tuple:
    """(cost, edges, nodes): candidates sort by cost, then length, then node sequence."""
    arr = np.asarray(nodes)
    cost = float(edge_w[graph.edge_index(arr[:-1], arr[1:])].sum())
    return (cost, len(nodes) - 1, tuple(nodes))


def _path_set(network: Network, graph: RouteGraph, found: list[list[tuple]]) -> PathSet:
    links, nodes, cost, od = [], [], [], []
    n = network.num_nodes
    for i, paths in enumerate(found):
        for path_cost, _, path in paths:
            arr = np.asarray(path)
            edge_links = graph.link[graph.edge_index(arr[:-1], arr[1:])]
            links.append(edge_links[edge_links >= 0])
            real = (
                arr[arr < n] if arr[0] < n else np.concatenate([[arr[0] - n], arr[1:][arr[1:] < n]])
            )
            nodes.append(tuple(int(v) for v in real))
            cost.append(path_cost)
            od.append(i)
    counts = np.bincount(np.asarray(od, dtype=np.int64), minlength=network.num_od_pairs)
    lengths = np.array([len(p) for p in links])
    incidence = sp.csr_matrix(
        (np.ones(lengths.sum()), np.concatenate(links), np.concatenate([[0], np.cumsum(lengths)])),
        shape=(len(links), network.num_links),
    )
    return PathSet(
        od=np.asarray(od, dtype=np.int64),
        offsets=np.concatenate([[0], np.cumsum(counts)]),
        links=tuple(links),
        nodes=tuple(nodes),
        cost=np.asarray(cost),
        incidence=incidence,
    )
