"""Checks that decide whether a value may pass a verify gate.

A verifier has a ``name`` and a ``verify(value)`` method, sync or async, that returns
a `Verdict`: passed, or failed with `Failure`s that say where and what is wrong. Run
verifiers through `run_verifier` / `run_verifiers`, which await async checks and turn a
check that raises into a failed verdict. This package imports only pydantic.
"""

from ._fields import Bound, InRange, RequiredFields
from ._predicate import Predicate
from ._protocol import Verifier, run_verifier, run_verifiers
from ._schema import Schema
from ._signals import NoErrorSignal
from ._verdict import Failure, Verdict, combine

# Verdicts
__all__ = [
    "Failure",
    "Verdict",
    "combine",
]
# The protocol, and running verifiers
__all__ += [
    "Verifier",
    "run_verifier",
    "run_verifiers",
]
# The library of checks
__all__ += [
    "Bound",
    "InRange",
    "NoErrorSignal",
    "Predicate",
    "RequiredFields",
    "Schema",
]
