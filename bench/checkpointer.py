"""Benchmark railgraph's `SqliteCheckpointer` against LangGraph's own savers.

Run it from the repository root::

    .venv/bin/python bench/checkpointer.py                  # full run, one to two minutes
    .venv/bin/python bench/checkpointer.py --quick          # smoke run, about ten seconds
    .venv/bin/python bench/checkpointer.py --json out.json  # also write the numbers

It prints the machine, one table comparing four configurations on the same graphs
and inputs, and the targets `SqliteCheckpointer` is held to, each PASS or FAIL.
The table is the report: the exit code is 0 even when a target is missed, unless
`--strict` is given. Everything runs locally, on files in a temporary directory.

Timings are medians of repetitions taken after a warm-up, with the configurations
interleaved (in a rotating order) so that drift in the machine hits all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import (
    FULL,
    QUICK,
)
from _report import (
    _load,
    machine,
    render,
)
from _run import (
    Report,
    check_targets,
    measure,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the report; the exit code is 1 only under `--strict` misses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough numbers)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    where = machine()
    with tempfile.TemporaryDirectory(prefix="railgraph-bench-") as tmp:
        results, notes = asyncio.run(measure(plan, Path(tmp)))
    where["load_average_end"] = _load()
    report = Report(where, notes, plan, results)
    print(render(report, quick=args.quick))
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    missed = [t for t in check_targets(results) if not t.passed]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
