"""Runs an LSL test inside a network namespace of its own (only `lo`), so no packet of LSL's
multicast discovery can leave the machine: outside one, the test re-runs itself in a child
pytest under `unshare --net` and passes when the child passed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cer_desktop.testing.netns import (
    ENV_MARK,
    in_private_netns,
    netns_command,
    netns_env,
    netns_problem,
)


def here_or_in_netns(request: pytest.FixtureRequest) -> bool:
    """True: run the test body here (this process is inside a private namespace). False: the
    body already ran, and passed, in a child inside one. Skips (a failure under CI=true) when
    no namespace can be made."""
    if in_private_netns():
        return True
    if os.environ.get(ENV_MARK):
        pytest.fail("started under unshare --net but the namespace has more than `lo`")
    problem = netns_problem()
    if problem is not None:
        pytest.skip(f"LSL tests run only inside a network namespace of their own: {problem}")
    cmd = netns_command(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid]
    )
    out = subprocess.run(
        cmd,
        cwd=str(request.config.rootpath),
        env=netns_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and "1 passed" in out.stdout, (
        f"the test failed inside its network namespace:\n{out.stdout[-6000:]}\n{out.stderr[-3000:]}"
    )
    return False
