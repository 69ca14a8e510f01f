#!/usr/bin/env python3
"""Layers point one way: no include cycle and no call cycle among src/ files.

A module is a stem: src/x.c and src/x.h together are module "x".
  include edge  x -> y  when src/x.c or src/x.h has #include "y.h" (src/y.h exists)
  call edge     x -> y  when src/x.o uses a symbol (function or variable) that
                        src/y.o defines (read with nm, so a macro or a static
                        inline never counts, and a call through a pointer never
                        does either: that is the point of a callback)
Each graph, and their union, must have no cycle; leaf modules may depend on
no other module except the ones listed for them; and only src/pg_compat.h
tests PG_VERSION_NUM.  The objects are built
first (make -s) when any is missing or older than a source.

Prints one line per check and ends with `N passed, M failed`.
"""

import glob
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(REPO, "src")

# Leaf utilities and what each may use (doc/architecture.md: leaf utilities
# at the bottom).  sigv4.h is the signer's API; its stages are sigv4_*.c.
LEAVES = {
    "sigv4": set(),
    "sigv4_buf": set(),
    "sigv4_canonical": {"sigv4", "sigv4_buf"},
    "sigv4_signature": {"sigv4", "sigv4_buf"},
    "sigv4_headers": {"sigv4", "sigv4_buf", "sigv4_canonical", "sigv4_signature"},
    "endpoint": set(),
    "event_stream": set(),
    "redact_local": set(),
    "aws_util": {"sigv4"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def include_graph():
    headers = {stem(h) for h in glob.glob(os.path.join(SRC, "*.h"))}
    edges = {}
    for path in glob.glob(os.path.join(SRC, "*.[ch]")):
        src = stem(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for dst in INCLUDE.findall(text):
            # src/ headers are included by bare name; "storage/shmem.h" is PostgreSQL's
            if "/" not in dst and dst in headers and dst != src:
                edges.setdefault(src, {}).setdefault(dst, set()).add(f"#include \"{dst}.h\"")
    return edges


def ensure_objects():
    sources = glob.glob(os.path.join(SRC, "*.c"))
    for c in sources:
        o = c[:-2] + ".o"
        if not os.path.exists(o) or os.path.getmtime(o) < max(
                [os.path.getmtime(c)] + [os.path.getmtime(h) for h in glob.glob(os.path.join(SRC, "*.h"))]):
            subprocess.run(["make", "-s"], cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            return


def call_graph():
    ensure_objects()
    defined = {}
    used = {}
    # only objects of current sources: one left from a removed file would
    # claim its old symbols
    for o in (c[:-2] + ".o" for c in glob.glob(os.path.join(SRC, "*.c"))):
        mod = stem(o)
        out = subprocess.run(["nm", "--defined-only", "-g", o], capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                defined[parts[2]] = mod
        out = subprocess.run(["nm", "-u", o], capture_output=True, text=True, check=True).stdout
        used[mod] = {line.split()[-1] for line in out.splitlines() if line.strip()}
    edges = {}
    for mod, syms in used.items():
        for sym in syms:
            dst = defined.get(sym)
            if dst and dst != mod:
                edges.setdefault(mod, {}).setdefault(dst, set()).add(sym)
    return edges


def union(a, b):
    edges = {}
    for g in (a, b):
        for src, dsts in g.items():
            for dst, why in dsts.items():
                edges.setdefault(src, {}).setdefault(dst, set()).update(why)
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index = {}
    low = {}
    stack = []
    on_stack = set()
    found = []
    counter = [0]
    nodes = set(edges) | {d for dsts in edges.values() for d in dsts}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(found)


def shortest_cycles(comp, edges):
    """For each module of a component, the shortest cycle through it (BFS)."""
    inside = set(comp)
    seen = set()
    out = []
    for start in comp:
        prev = {start: None}
        queue = [start]
        path = None
        while queue and path is None:
            v = queue.pop(0)
            for w in sorted(edges.get(v, {})):
                if w not in inside:
                    continue
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    path.reverse()
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        if path:
            # one rotation per cycle: start at its smallest name
            i = path.index(min(path))
            key = tuple(path[i:] + path[:i])
            if key not in seen:
                seen.add(key)
                out.append(list(key))
    return sorted(out, key=lambda c: (len(c), c))


def describe(comp, edges):
    """Each shortest cycle, with what makes each of its edges."""
    lines = []
    for cyc in shortest_cycles(comp, edges):
        lines.append("#     " + " -> ".join(cyc + [cyc[0]]))
        for a, b in zip(cyc, cyc[1:] + cyc[:1]):
            why = sorted(edges[a][b])
            more = f" (+{len(why) - 3} more)" if len(why) > 3 else ""
            lines.append(f"#         {a} -> {b}: {', '.join(why[:3])}{more}")
    return lines


def main():
    results = []
    inc = include_graph()
    calls = call_graph()
    both = union(inc, calls)

    for name, g in (("include", inc), ("call", calls), ("include+call", both)):
        comps = cycles(g)
        detail = []
        for comp in comps:
            detail.append(f"#   modules in a cycle: {', '.join(comp)}")
            detail.extend(describe(comp, g))
        results.append((not comps, f"no {name} cycle among src/ modules"
                        + ("" if not comps else f": {len(comps)} found"), detail))

    for leaf, allowed in sorted(LEAVES.items()):
        bad = {d: w for d, w in both.get(leaf, {}).items() if d not in allowed}
        detail = [f"#     {leaf} -> {d}: {', '.join(sorted(w)[:3])}" for d, w in sorted(bad.items())]
        results.append((not bad, f"leaf {leaf} depends on no other src/ module"
                        + (f" but {', '.join(sorted(allowed))}" if allowed else ""), detail))

    # doc/architecture.md, "Versions": one header bridges the releases
    guarded = sorted(os.path.basename(f) for f in glob.glob(os.path.join(SRC, "*.[ch]"))
                     if os.path.basename(f) != "pg_compat.h" and "PG_VERSION_NUM" in open(f).read())
    results.append((not guarded, "PG_VERSION_NUM is tested in src/pg_compat.h only",
                    [f"#     also in {f}" for f in guarded]))

    passed = failed = 0
    for ok, label, detail in results:
        print(("ok " if ok else "not ok ") + label)
        for line in detail:
            print(line)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
