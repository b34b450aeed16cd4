"""Import cycles among the modules of eval/, chaos/ and subjects/.

The graph has an edge for every import that runs: top-level and lazy (inside a function),
since a cycle hidden in a function is still a cycle; `TYPE_CHECKING`-only imports are left
out, since they never run.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.architecture_rules import imports, sources


def cycles(root: Path) -> list[str]:
    """One message per strongly connected component: a shortest cycle through its least module."""
    srcs = sources(root)
    known = frozenset(s.name for s in srcs)
    graph = {s.name: {i.target for i in imports(s, known)
                      if not i.type_checking and i.target in known} - {s.name} for s in srcs}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    comps: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's depth-first search
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = {v}
            while (w := stack.pop()) != v:
                comp.add(w)
            comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [f"import cycle: {' -> '.join(_cycle(min(c), graph, c))}" for c in comps if len(c) > 1]


def _cycle(start: str, graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    prev: dict[str, str] = {}
    queue = [start]
    for node in queue:  # breadth first, so the shortest way back to start
        for nxt in sorted(graph[node] & comp):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in a component without a cycle")
