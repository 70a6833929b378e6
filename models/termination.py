"""EX-TERMINATES, checked for every executor variant by both checkers (spec/PROOFS.md §12).

Termination is split in two. EX-PROGRESS (:func:`refexec.models.properties.progress_property`)
is an ordinary invariant: no reachable state short of an end (:func:`~refexec.models.properties.
run_final`) has every *fair* action disabled. EX-TERMINATES, here, is the other half: no infinite
run made of fair actions only (the environment's actions, which add work, are assumed to happen
finitely often). Together: once the program stops adding work, every drive call ends.

* exhaustive (:func:`fair_cycle`): on the complete reachable graph, a cycle of fair transitions
  through non-final states is a counterexample; its length as a lasso (the shortest path to a
  state of the cycle plus the shortest fair cycle through it) is reported, so that it can be
  compared with z3's;
* z3: a ranking function that decreases on every fair action under the proved invariant
  (:func:`refexec.models.verify.reference_rank` for the reference family, :func:`seed_rank` for
  the seed) proves it for unbounded depth; for a variant without a proof (the mutants)
  :func:`lasso_bmc` searches for the shortest lasso ``s_0 .. s_j .. s_k = s_j`` whose loop is
  fair and non-final, to the BMC bound.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.symbolic import Unroller, _z
from refexec.models.system import Ops, TransitionSystem, Value, View

__all__ = ["fair_cycle", "lasso_bmc", "seed_rank"]


def fair_cycle(graph: Mapping[Hashable, Sequence[Hashable]], depth_of: Mapping[Hashable, int],
               is_final: Callable[[Hashable], bool]) -> int | None:
    """The length of the shortest lasso whose loop is a cycle of recorded (fair) transitions
    through non-final states, or ``None`` when there is no such cycle.

    Strongly connected components (iterative Tarjan) of the graph restricted to non-final
    states; in each component with a cycle, a breadth-first search from each state gives the
    shortest cycle through it.
    """
    nodes = [v for v in graph if not is_final(v)]
    live = set(nodes)
    succ = {v: [w for w in graph.get(v, ()) if w in live] for v in nodes}
    index: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    on: set[Hashable] = set()
    stack: list[Hashable] = []
    comps: list[list[Hashable]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[Hashable, Iterable[Hashable]]] = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(succ[w])))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
    best: int | None = None
    for comp in comps:
        members = set(comp)
        if len(comp) == 1 and comp[0] not in succ[comp[0]]:
            continue
        for s in comp:
            dist = {s: 0}
            queue = deque([s])
            cycle = None
            while queue and cycle is None:
                v = queue.popleft()
                for w in succ[v]:
                    if w == s:
                        cycle = dist[v] + 1
                        break
                    if w in members and w not in dist:
                        dist[w] = dist[v] + 1
                        queue.append(w)
            if cycle is not None:
                total = depth_of[s] + cycle
                best = total if best is None else min(best, total)
    return best


def lasso_bmc(ts: TransitionSystem, fair: Sequence[str],
              final: Callable[[View, Ops], Value], max_depth: int) -> int | None:
    """The shortest lasso of at most ``max_depth`` steps whose loop takes only ``fair`` actions
    through non-final states (z3, incremental), or ``None`` if there is none that short.

    Liveness to safety: a copy ``saved`` of the state is taken where the loop begins (``L@i``
    becomes true, and stays true), every step inside the loop is fair from a non-final state,
    and the lasso closes at ``k`` when ``s@k = saved`` with ``L@k-1``: linear in ``k``, where
    comparing ``s@k`` with every earlier state would be quadratic.
    """
    u = Unroller(ts, tag="l.")
    fair_idx = sorted(i for i, (a, _) in enumerate(u.instances) if a.name in fair)
    saved = u.state(-1)
    inside = [z3.Bool(f"l.L@{i}") for i in range(max_depth + 1)]
    sv = z3.Solver()
    sv.add(u.init(0))
    sv.add(z3.Implies(inside[0], u.eq_state(saved, u.state(0))))
    for k in range(1, max_depth + 1):
        i = k - 1
        act = u.act(i)
        sv.add(u.trans(i))
        sv.add(z3.Implies(inside[i], z3.And(
            z3.Or(*[act == x for x in fair_idx]) if fair_idx else z3.BoolVal(False),
            z3.Not(_z(final(View(u.state(i)), u.ops))))))
        sv.add(z3.Implies(inside[i], inside[k]))
        sv.add(z3.Implies(z3.And(inside[k], z3.Not(inside[i])), u.eq_state(saved, u.state(k))))
        sv.push()
        sv.add(inside[i], u.eq_state(u.state(k), saved))
        found = sv.check() == z3.sat
        sv.pop()
        if found:
            return k
    return None


def seed_rank(ts: TransitionSystem) -> Callable[[View, Any], Sequence[Value]]:
    """A ranking function ``(work, loop)`` for the seed's fair actions.

    ``work = sum over classes cnt[c] * (3 w_c + [phase_c = running]) + 2 qlen + spawners``:
    a wake consumes a held waker (-3) and sends an entry (+2); a take (poll, discard) removes an
    entry (-2) and at most starts a poll (+1); pending and ready end the poll (-1); a drop lowers
    ``w`` or ``spawners``. ``loop``: 2 unless blocked, plus 1 in RECV (run_end keeps ``work``;
    a send into the full channel from the loop's thread changes nothing but ``blocked``)."""
    from refexec.models import seed  # noqa: PLC0415

    cls = seed.classes(_w_max(ts))

    def rank(s: View, o: Ops) -> list[Value]:
        per = [s.cnt[i] * (3 * w + (1 if p == seed.RUNNING else 0))
               for i, (p, w, _) in enumerate(cls)]
        work = o.Sum([*per, 2 * s.qlen, s.spawners])
        return [work, o.If(s.blocked, 0, 2) + o.If(s.loop == seed.RECV, 1, 0)]

    return rank


def _w_max(ts: TransitionSystem) -> int:
    """The seed instance's waker bound W (its classes are phase x 0..W x entries)."""
    from refexec.models import seed  # noqa: PLC0415

    k = ts.var("cnt").length
    w = 0
    while len(seed.classes(w)) < k:
        w += 1
    return w
