"""Bounds on free-form JSON values the router accepts or stores (pure, no I/O).

msgspec decodes nesting up to ~1,000 levels and raises ``RecursionError`` beyond; a value a
few hundred levels deep that is stored can later fail wherever it is embedded deeper (a call
record holding a pre-call answer), long after it was accepted. So every free-form value —
dispatch templates, agent tools and provider preferences, pre-call metadata and dynamic
variables — is held to a depth and a count of values when it comes in, and every decoder
treats ``RecursionError`` as malformed input. The walk is iterative: a bound check must not
itself recurse.
"""

from __future__ import annotations

MAX_DEPTH = 16  # nesting levels of a free-form value (the template's own bound is smaller)
MAX_NODES = 5000  # values in it, containers included


def shape_problem(
    value: object, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES
) -> str | None:
    """What is wrong with the value's shape ("nests deeper than …"), or None."""
    nodes = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > max_depth:
            return f"nests deeper than {max_depth} levels"
        if nodes > max_nodes:
            return f"has more than {max_nodes} values"
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return None
