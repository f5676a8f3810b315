"""Shared fixtures for the end-to-end tests: the built ipcrig binary, a runner,
and helpers that craft frames (24-byte header + Pickle payload) byte by byte."""
import os
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("IPCRIG_BUILD", "build")

# Header flags (ipc/include/ipc/msg.h).
SYNC, REPLY, REPLY_ERROR, WANTS_REPLY = 0x4, 0x8, 0x10, 0x20
ROUTING_CONTROL = 0x7FFFFFFF


def frame(msg_type, payload=b"", routing_id=ROUTING_CONTROL, flags=0, num_fds=0, txn=0,
          payload_size=None):
    """One frame; payload_size may lie about the payload's length."""
    size = len(payload) if payload_size is None else payload_size
    return struct.pack("<IIiIII", size, msg_type, routing_id, flags, num_fds, txn) + payload


def p_i32(v):
    return struct.pack("<i", v)


def p_u32(v):
    return struct.pack("<I", v)


def p_bytes(b):
    pad = (4 - len(b) % 4) % 4
    return p_u32(len(b)) + b + b"\0" * pad


def p_string(s):
    return p_bytes(s.encode())


@pytest.fixture(scope="session")
def ipcrig_bin():
    path = BUILD / "bin" / "ipcrig"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make` first")
    return path


@pytest.fixture
def ipcrig(ipcrig_bin):
    """Runs ipcrig with args (and optional stdin bytes); returns CompletedProcess
    with text stdout/stderr."""

    def run(*args, stdin=None, timeout=30):
        proc = subprocess.run([str(ipcrig_bin), *map(str, args)], input=stdin,
                              capture_output=True, timeout=timeout)
        proc.stdout = proc.stdout.decode("utf-8", "replace")
        proc.stderr = proc.stderr.decode("utf-8", "replace")
        # A sanitizer build exits 1 on a finding, like a malformed stream: look.
        assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
        return proc

    return run
