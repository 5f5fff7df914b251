"""Dependencies between scenes form a DAG.

FAIL (SB601): a waits for b's last frame while b edits a.

    scenes:
      - {id: a, first_frame: {from: b}, prompt: x, duration: 5}
      - {id: b, edit: a, prompt: y}

PASS: a no longer depends on b.

Most storyboards have no cycle, and proving that needs only the plan's own
graph (`TaskGraph.order`); networkx (a fifth of a second to import) is
loaded to list every cycle only when there is one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from storyboard.compile.plan import dependency_graph
from storyboard.lint.rules import Context, Rule, problem
from storyboard.problems import Problem

if TYPE_CHECKING:
    import networkx as nx

HEAD = "storyboard: 1\nscenes:\n"

RULES = {
    "SB601": Rule(
        "SB601",
        "",
        "scene dependencies may not form a cycle",
        HEAD + "  - {id: a, first_frame: {from: b}, prompt: x, duration: 5}\n"
        "  - {id: b, edit: a, prompt: y}\n",
        (3, 26),
        HEAD + "  - {id: a, prompt: x, duration: 5}\n  - {id: b, edit: a, prompt: y}\n",
    ),
}


def scene_graph(ctx: Context) -> nx.DiGraph:
    """Scenes and what they wait for (the plan's task graph has the same shape), as
    networkx's graph: its `simple_cycles` lists every loop."""
    import networkx as nx

    graph = dependency_graph((s.id, s.depends_on) for s in ctx.story.scenes)
    digraph = nx.DiGraph()
    digraph.add_nodes_from(graph.nodes)
    digraph.add_edges_from(graph.edges)
    return digraph


def has_cycle(ctx: Context) -> bool:
    """Whether the scenes' dependencies (on scenes that exist) loop anywhere."""
    return dependency_graph((s.id, s.depends_on) for s in ctx.story.scenes).order() is None


def check(ctx: Context) -> Iterator[Problem]:
    if not has_cycle(ctx):
        return
    import networkx as nx

    graph = scene_graph(ctx)
    reported: set[frozenset[str]] = set()
    for cycle in nx.simple_cycles(graph):
        key = frozenset(cycle)
        if key in reported:
            continue
        reported.add(key)
        # cycle[i + 1] depends on cycle[i]; start the report at the scene written first
        index = {s.id: s.index for s in ctx.story.scenes}
        k = min(range(len(cycle)), key=lambda i: index[cycle[i]])
        ring = cycle[k:] + cycle[:k]
        waiting, needed = ring[0], ring[-1]
        scene = ctx.story.scene(waiting)
        assert scene is not None
        refs = [r for r in (scene.first_frame, scene.end_frame, scene.video) if r is not None]
        pos = next((r.pos for r in refs if r.scene == needed), scene.pos)
        order = [ring[0], *reversed(ring[1:])]
        pairs = zip(order, [*order[1:], order[0]], strict=True)
        chain = ", ".join(f"{a} needs {b}" for a, b in pairs)
        yield problem(
            RULES["SB601"],
            pos,
            f"dependency cycle: {chain}",
            hint="each 'needs' is a {from: X}, edit: X or video: {from: X}; break one of them",
        )
        if len(reported) >= 20:
            return
