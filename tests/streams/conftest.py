"""Fixtures of the stream tests."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
