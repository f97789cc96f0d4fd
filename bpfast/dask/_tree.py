"""The fixed reduction tree over a fit's chunks.

Chunk results are summed in one binary tree that depends on the number of
chunks only: the node of chunks [lo, hi) is the sum of its halves
[lo, mid) and [mid, hi), mid = (lo + hi) // 2, left operand first; a leaf
is one chunk's result. Where the chunks sit decides only where a node is
computed (a worker sums every node whose chunks it holds; the client sums
the nodes above those), never its bits: two fits on the same chunks give
the same sums whatever the workers, their number or the scheduling.

A node's value is a tuple whose items are floats or float64 arrays, summed
item by item, or integer arrays, combined by maximum (counters that every
chunk advances alike).
"""

import numpy as np


def _combine(a, b):
    out = []
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
            out.append(np.maximum(x, y))
        elif isinstance(x, np.ndarray):
            x += y      # a node's arrays are its own (see reduce)
            out.append(x)
        else:
            out.append(x + y)
    return tuple(out)


def held_nodes(n_chunks, held):
    """The largest nodes all of whose chunks are in `held` (a set of chunk
    indices), as (lo, hi) pairs in chunk order."""
    nodes = []

    def visit(lo, hi):
        inside = sum(1 for c in range(lo, hi) if c in held)
        if inside == hi - lo:
            nodes.append((lo, hi))
        elif inside:
            mid = (lo + hi) // 2
            visit(lo, mid)
            visit(mid, hi)

    visit(0, n_chunks)
    return nodes


def reduce(lo, hi, leaf, known=None):
    """The value of node [lo, hi): leaf(c) gives chunk c's value (a tuple of
    fresh arrays, which the sums then overwrite), `known` maps (lo, hi) to
    values already computed (elsewhere) for some nodes."""
    if known is not None and (lo, hi) in known:
        return known[(lo, hi)]
    if hi - lo == 1:
        return leaf(lo)
    mid = (lo + hi) // 2
    return _combine(reduce(lo, mid, leaf, known), reduce(mid, hi, leaf, known))
