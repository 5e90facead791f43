"""Serve railgraph graphs with LangGraph's own server (``langgraph dev``, LangGraph Platform).

``served(ref)`` is a graph factory to name in ``langgraph.json``; ``checkpointer`` is the
server's checkpointer on railgraph's database, so that the server's threads and railgraph's
run store are one. A run waiting for a person shows as an interrupted thread whose interrupt
carries the review request in Agent Inbox's shape; resuming it through the server's API
delivers the decision to its gate. See README, "Serving with LangGraph's server".
"""

from railgraph._served import BEGIN, SETTLE, ServedGraph, served
from railgraph._served_db import checkpointer
from railgraph._served_review import decision_of, human_interrupt

__all__ = [
    # for langgraph.json
    "served",
    "checkpointer",
    "ServedGraph",
    # the nodes a served graph adds, and the shapes it speaks
    "BEGIN",
    "SETTLE",
    "human_interrupt",
    "decision_of",
]
