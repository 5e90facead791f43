"""Graphs that worker processes load by reference in the worker tests.

``refund`` is the reference refund agent on a helpdesk that kills its own process with
SIGKILL around a call when ``RAILGRAPH_TEST_CRASH`` says so: ``before:create_refund``
(after the ledger's `started` row, before the helpdesk), ``after:create_refund`` (after
the helpdesk made the refund, before the ledger records it), ``before:notify`` (the refund
made and recorded, its node finished: the next node's call). ``expiring`` waits two seconds
for a person, then takes its ``expired`` outcome.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from pydantic import BaseModel

from railgraph import END, START, GraphBuilder
from railgraph.graphs._helpdesk import Helpdesk
from railgraph.graphs.refund import make_graph

CRASH_ENV = "RAILGRAPH_TEST_CRASH"


def _die_at(when: str, call: str) -> None:
    if os.environ.get(CRASH_ENV) == f"{when}:{call}":
        os.kill(os.getpid(), signal.SIGKILL)


class CrashingHelpdesk(Helpdesk):
    def create_refund(self, **kwargs: Any) -> dict[str, Any]:
        _die_at("before", "create_refund")
        row = super().create_refund(**kwargs)
        _die_at("after", "create_refund")
        return row

    def notify(self, **kwargs: Any) -> dict[str, Any]:
        _die_at("before", "notify")
        return super().notify(**kwargs)


class Ask(BaseModel):
    note: str = ""


refund = make_graph(helpdesk=CrashingHelpdesk())

_g = GraphBuilder("expiring", Ask)
_g.approve("ask", approved="yes", rejected=END, expired="late", expires_after_s=2)
_g.step("yes", lambda s: {"note": "approved"})
_g.step("late", lambda s: {"note": "expired"})
_g.edge(START, "ask").edge("yes", END).edge("late", END)
expiring = _g.build()
