"""The thread-leak check the tests share: ANY thread started during a test and still running
after it is a leak, whatever its name and whether or not it is a daemon, except the named
exemptions below (each with why it may outlive a test).

Use: `before = threads_now()` when the test (or fixture) starts, then
`assert leaked_threads(before) == []` when everything should have been joined.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

# name (or name prefix ending in "*") -> why it may outlive the test that started it
EXEMPT: dict[str, str] = {
    # logs.setup_logging starts one reader of fd 2 per process (the app, not verbose); it
    # forwards native libraries' stderr to the log file until the process ends, by design.
    "native-stderr": "the log's reader of native stderr lives as long as the process",
    # Threads that Python did not start (Qt's thread pool, native libraries) appear as
    # "Dummy-N" once they call into Python and never leave the list; they are not ours to join.
    "Dummy-*": "a thread started outside Python, listed once it called into Python",
}


def threads_now() -> set[threading.Thread]:
    """The threads running now (the baseline of a leak check)."""
    return set(threading.enumerate())


def _exempt(name: str) -> bool:
    return any(name.startswith(key[:-1]) if key.endswith("*") else name == key for key in EXEMPT)


def leaked_threads(before: set[threading.Thread], grace_s: float = 2.0) -> list[str]:
    """Names of threads started since `before` that are still alive after `grace_s` (a thread
    told to stop may need a moment to return), exemptions left out."""
    deadline = time.monotonic() + grace_s
    while True:
        left = sorted(
            t.name for t in threads_now() - before if t.is_alive() and not _exempt(t.name)
        )
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def new_threads(before: set[threading.Thread]) -> list[str]:
    """Names of threads started since `before` and alive now (no grace), exemptions left out."""
    return sorted(t.name for t in threads_now() - before if t.is_alive() and not _exempt(t.name))


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Every test of a module that imports this fixture ends with no new thread running,
    whatever its name (`from thread_check import no_thread_left  # noqa: F401`)."""
    before = threads_now()
    yield
    left = leaked_threads(before)
    assert left == [], f"threads left running: {left}"
