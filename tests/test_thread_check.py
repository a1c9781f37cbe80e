"""The tests' thread-leak check catches any new thread, whatever its name; only the named
exemptions pass."""

from __future__ import annotations

import threading

from thread_check import EXEMPT, leaked_threads, threads_now


def _run_until(stop: threading.Event, name: str, daemon: bool) -> threading.Thread:
    t = threading.Thread(target=stop.wait, name=name, daemon=daemon)
    t.start()
    return t


def test_any_new_thread_left_running_is_a_leak():
    before = threads_now()
    stop = threading.Event()
    # Given threads that are not named cer-*, daemon or not, left running
    threads = [
        _run_until(stop, "SessionRecorder", daemon=True),
        _run_until(stop, "worker", daemon=False),
    ]
    try:
        # Then the check names both
        assert leaked_threads(before, grace_s=0.05) == ["SessionRecorder", "worker"]
    finally:
        stop.set()
        for t in threads:
            t.join()
    # And once they end, nothing is left
    assert leaked_threads(before, grace_s=0.05) == []


def test_only_the_named_exemptions_pass_and_each_says_why():
    before = threads_now()
    stop = threading.Event()
    t = _run_until(stop, "native-stderr", daemon=True)
    try:
        assert leaked_threads(before, grace_s=0.05) == []
    finally:
        stop.set()
        t.join()
    assert all(reason.strip() for reason in EXEMPT.values())


def test_the_apps_threads_are_named_cer():
    """Every thread the app starts carries a cer-* name (the docs' thread table, the checks
    that wait for cer-* threads): the recorder, start-up recovery and the demo's pre-render."""
    import ast
    import inspect
    from pathlib import Path

    import cer_desktop

    root = Path(cer_desktop.__file__).parent
    names = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = getattr(node, "func", None)
            kind = getattr(func, "attr", None) or getattr(func, "id", None)
            if not isinstance(node, ast.Call) or kind not in ("Thread", "ThreadPoolExecutor"):
                continue
            arg = "name" if kind == "Thread" else "thread_name_prefix"
            given = [kw.value for kw in node.keywords if kw.arg == arg]
            if kind == "ThreadPoolExecutor" and not given and len(node.args) >= 2:
                given = [node.args[1]]  # ThreadPoolExecutor(n, "prefix")
            if not given:
                value = None  # Python's own "Thread-N": never allowed
            elif isinstance(given[0], ast.Constant):
                value = given[0].value
            else:
                value = "cer-<given by the caller>"  # a parameter whose default is checked here
            names.append((f"{path.relative_to(root)}:{node.lineno}", value))
    assert len(names) >= 10, names
    bad = [(p, n) for p, n in names if not (isinstance(n, str) and n.startswith("cer-"))]
    bad = [(p, n) for p, n in bad if n not in EXEMPT]
    assert bad == [], f"threads not named cer-* (None: no name given): {bad}"
    # the one name given by a caller: the recognizer worker's, whose default is cer-recognizer
    from cer_desktop.pipeline.worker import RecognizerWorker

    default = inspect.signature(RecognizerWorker).parameters["name"].default
    assert default.startswith("cer-")
