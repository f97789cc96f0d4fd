"""Shared bookkeeping for the reliability tests: how many generated cases
(hypothesis examples, fuzz inputs) each test ran, reported at the end of the
pytest session and, when BPFAST_RELIABILITY_STATS names a file, appended to it
as one JSON line per session (for the lead's report).

Not a test module (no test_ prefix); imported by the test_reliability_* files.
"""

import collections
import json
import os
import threading

COUNTS = collections.Counter()
MEASUREMENTS = {}
_lock = threading.Lock()
_PLUGIN_NAME = "bpfast-reliability-stats"


def count(name, n=1):
    """Record n generated cases for `name` (a test's name)."""
    with _lock:
        COUNTS[name] += n


def measure(name, value):
    """Record a measurement (RSS growth, thread configurations, ...)."""
    with _lock:
        MEASUREMENTS[name] = value


class _SummaryPlugin:
    def pytest_terminal_summary(self, terminalreporter):
        if COUNTS:
            terminalreporter.section("bpfast reliability: generated cases")
            for name, n in sorted(COUNTS.items()):
                terminalreporter.write_line(f"{name}: {n}")
            terminalreporter.write_line(f"total: {sum(COUNTS.values())}")
        if MEASUREMENTS:
            terminalreporter.section("bpfast reliability: measurements")
            for name, value in MEASUREMENTS.items():
                terminalreporter.write_line(f"{name}: {value}")
        path = os.environ.get("BPFAST_RELIABILITY_STATS")
        if path and (COUNTS or MEASUREMENTS):
            with open(path, "a") as fh:
                fh.write(json.dumps({"cases": dict(COUNTS), "measurements": MEASUREMENTS},
                                    default=str) + "\n")


def register(config):
    """Make sure the end-of-session summary is printed (idempotent)."""
    if not config.pluginmanager.has_plugin(_PLUGIN_NAME):
        config.pluginmanager.register(_SummaryPlugin(), _PLUGIN_NAME)
