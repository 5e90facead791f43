"""Agent graphs authored with railgraph: the reference workflows and their demo systems.

Each module exposes a built graph as ``graph``, so
``railgraph run railgraph.graphs.refund:graph`` works.
"""

__all__: list[str] = []
