"""End-to-end tests of ipcrig-b2g, B2G's process model on libipc: the main
process launches the fork server (nuwa) after a delay, keeps spares forked
from it, turns spares into apps one after the other and shuts everything down.
The program is run as a subprocess; its progress lines are checked, and every
process it names must be gone (reaped) when it exits."""
import os
import re
import subprocess

import pytest

from conftest import BUILD

B2G = BUILD / "bin" / "ipcrig-b2g"

READY = re.compile(r"Ready from (app-\d+): pid (\d+) \(parent (\d+)( = nuwa)?\), "
                   r"launch latency ([\d.]+) us")


@pytest.fixture(scope="session")
def b2g_bin():
    if not B2G.exists():
        pytest.fail(f"{B2G} is missing: run `make` first")
    return B2G


def run(b2g_bin, *args, timeout=60):
    proc = subprocess.run([str(b2g_bin), *map(str, args)], capture_output=True, timeout=timeout)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    return proc.returncode, out, err


def pids_named(out):
    """Every pid the program printed: its own, nuwa's, the spares' and apps'."""
    pids = {int(p) for p in re.findall(r"^\[[^\]]* (\d+)\]", out, re.M)}
    pids |= {int(p) for p in re.findall(r"(?:spare|pid|nuwa running as pid) (\d+)", out)}
    return pids


def alive(pid):
    return os.path.exists(f"/proc/{pid}")


def test_three_apps_each_from_a_spare(b2g_bin):
    rc, out, err = run(b2g_bin, "--spares", 1, "--delay-ms", 100, "--replace-delay-ms", 0,
                       "--apps", 3)
    assert rc == 0, out + err
    nuwa = int(re.search(r"nuwa running as pid (\d+)", out).group(1))
    ready = READY.findall(out)
    assert [r[0] for r in ready] == ["app-1", "app-2", "app-3"]
    app_pids = [int(r[1]) for r in ready]
    assert len(set(app_pids)) == 3 and nuwa not in app_pids
    for _, pid, parent, is_nuwa, latency in ready:
        assert int(parent) == nuwa and is_nuwa
        assert float(latency) > 0
    # Steps, in order: delay, launch, fork, publish, take, Ready, shutdown.
    order = ["b2g started", "launching the fork server", "nuwa running as pid",
             "NuwaFork -> nuwa", "AddNewProcess from nuwa", "TurnIntoApp(\"app-1\")",
             "Ready from app-1", "all apps ready: shutting down",
             "every process exited and was reaped"]
    at = [out.index(s) for s in order]
    assert at == sorted(at), out
    assert out.count("to replace a taken spare") == 3
    assert "3/3 app(s) ready; forks requested 4 (replacements 3)" in out
    assert "spares taken 3, bad senders 0" in out
    assert "ipcrig-b2g: ok" in out
    # The fork server reaped its children and reported none failing.
    assert re.search(r"\[nuwa \d+\] forked \d+, reaped \d+ .*abnormal exits 0, fork failures 0",
                     out), out


def test_nothing_outlives_the_program(b2g_bin):
    rc, out, err = run(b2g_bin, "--spares", 2, "--delay-ms", 0, "--replace-delay-ms", 0,
                       "--apps", 2)
    assert rc == 0, out + err
    pids = pids_named(out)
    assert len(pids) >= 5  # main, nuwa, two apps, at least one spare
    assert not [p for p in pids if alive(p)], out


def test_spares_only(b2g_bin):
    rc, out, err = run(b2g_bin, "--spares", 3, "--delay-ms", 0, "--apps", 0)
    assert rc == 0, out + err
    assert out.count("connected (hello received)") == 3
    assert "spares ready, no apps to start: shutting down" in out
    assert "0/0 app(s) ready; forks requested 3 (replacements 0), spares published 3" in out


def test_quiet_prints_only_the_summary(b2g_bin):
    rc, out, err = run(b2g_bin, "--delay-ms", 0, "--replace-delay-ms", 0, "--apps", 2, "--quiet")
    assert rc == 0, out + err
    lines = out.splitlines()
    assert all(line.startswith("ipcrig-b2g: ") for line in lines), out
    assert "2/2 app(s) ready" in out
    assert re.search(r"median [\d.]+ us", out)


def test_defaults_wait_one_second_and_start_three_apps(b2g_bin):
    rc, out, err = run(b2g_bin)
    assert rc == 0, out + err
    assert "fork server in 1000 ms, replacements after 1000 ms, 3 app(s)" in out
    assert "3/3 app(s) ready" in out


@pytest.mark.parametrize("args", [["--spares"], ["--apps", "x"], ["--delay-ms", "-5"],
                                  ["--frobnicate", "1"], ["--spares", "0", "--apps", "1"]])
def test_bad_options_are_usage_errors(b2g_bin, args):
    rc, out, err = run(b2g_bin, *args)
    assert rc == 2
    assert "usage: ipcrig-b2g" in err


def test_help(b2g_bin):
    rc, out, _ = run(b2g_bin, "--help")
    assert rc == 0
    assert out.startswith("usage: ipcrig-b2g")
