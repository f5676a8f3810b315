"""End-to-end tests for ipcrig-demo, the Gecko Demo sample (seed 001) on libipc:
--from main and --from content, the IPC_LOG message log, the EmptyMessageQueue
sentinel and the --no-sentinel race (lost counts must match the "too late"
lines; sent = dispatched + lost on every channel), a crashing demo, usage
errors, and no process or file left behind."""
import os
import re
import subprocess
from collections import defaultdict

import pytest

from conftest import BUILD

LINE = re.compile(r"^\[(main|content|demo) (\d+)\] (.*)$")
COUNTS = re.compile(
    r"^counts (\w+) (\w+)<->(\w+) (\d+)<->(\d+): sent (\d+), received (\d+), "
    r"dispatched (\d+), lost (\d+) \((\d+) too late to send, (\d+) too late to run\), "
    r"unhandled (\d+), bad (\d+)$")
LOG = re.compile(r"^\[time: (\d+)\]\[(\d+)(->|<-)(\d+)\] \[(\w+)\] (Sending reply|Sending|Received)"
                 r"  (\w+)::(Msg|Reply)_(\w+)")
TOO_LATE = re.compile(r"^###!!! \[(Parent|Child)\]\[(\w+)\] Error: \(msgtype=0x([0-9a-f]+),"
                      r"name=([\w:]+)\) Channel closing: too late to send/recv, messages will "
                      r"be lost$")
GOODBYE = re.compile(r"^\[(\w+) (\d+)\] NOTE: (parent|child) actor received `Goodbye' message\.  "
                     r"Closing channel\.$")
ASSIST = "Here is some assistance from process {} (demo)"

# Exit statuses (docs/process-model.md, "The Demo sample").
CLEAN, USAGE, ABNORMAL, LOST, TIMEOUT = 0, 1, 2, 3, 4


@pytest.fixture(scope="session")
def demo_bin():
    path = BUILD / "bin" / "ipcrig-demo"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make` first")
    return path


def processes_in_group(pgid):
    """Pids of live processes whose process group is pgid (zombies included)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            found.append(int(d))
    return found


class Run:
    """One run of ipcrig-demo, parsed."""

    def __init__(self, proc):
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.lines = []          # (type, pid, text)
        self.pids = {}           # type -> set of pids
        for raw in self.stdout.splitlines():
            m = LINE.match(raw)
            assert m, f"unexpected stdout line: {raw!r}"
            kind, pid, text = m.group(1), int(m.group(2)), m.group(3)
            self.lines.append((kind, pid, text))
            self.pids.setdefault(kind, set()).add(pid)
        self.counts = []
        for kind, pid, text in self.lines:
            m = COUNTS.match(text)
            if m:
                g = m.groups()
                self.counts.append(dict(
                    proto=g[0], self_type=g[1], peer_type=g[2], self_pid=int(g[3]),
                    peer_pid=int(g[4]), sent=int(g[5]), received=int(g[6]),
                    dispatched=int(g[7]), lost=int(g[8]), lost_send=int(g[9]),
                    lost_run=int(g[10]), unhandled=int(g[11]), bad=int(g[12])))
                assert int(g[3]) == pid and g[1] == kind
        self.too_late = [m for m in map(TOO_LATE.match, self.stderr.splitlines()) if m]
        self.log = [m for m in map(LOG.match, self.stderr.splitlines()) if m]
        self.goodbyes = [m for m in map(GOODBYE.match, self.stderr.splitlines()) if m]

    def pid(self, kind):
        pids = self.pids.get(kind, set())
        assert len(pids) == 1, f"{kind}: {pids}"
        return next(iter(pids))

    def said(self, kind, text):
        return any(k == kind and text in t for k, _, t in self.lines)

    def total_lost(self):
        return sum(c["lost"] for c in self.counts)


@pytest.fixture
def demo(demo_bin, tmp_path):
    """Runs ipcrig-demo in its own session, in an empty directory, and checks
    that nothing is left behind: no process of its group, no file."""

    def run(*args, env_extra=None, timeout=60):
        env = dict(os.environ)
        env.pop("IPC_LOG", None)
        env.pop("IPC_LOG_FILE", None)
        env.pop("IPC_CRASH_DIR", None)
        env.update(env_extra or {})
        work = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        work.mkdir()
        proc = subprocess.Popen([str(demo_bin), *map(str, args)], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            pytest.fail(f"ipcrig-demo {' '.join(map(str, args))} hung")
        proc.stdout_text = out.decode("utf-8", "replace")
        proc.stderr_text = err.decode("utf-8", "replace")
        assert "Sanitizer" not in proc.stderr_text and "runtime error" not in proc.stderr_text, \
            proc.stderr_text
        assert processes_in_group(proc.pid) == [], "processes left behind"
        assert list(work.iterdir()) == [], "stray files"
        work.rmdir()
        done = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout_text,
                                           proc.stderr_text)
        return Run(done)

    return run


def check_channels(r):
    """Both ends of every channel reported, and what one end sent was
    dispatched, lost, unhandled or bad at the other: sent = dispatched + lost
    over the channel (nothing vanished unreported)."""
    ends = defaultdict(list)
    for c in r.counts:
        ends[(c["proto"], frozenset((c["self_pid"], c["peer_pid"])))].append(c)
    for key, pair in ends.items():
        assert len(pair) == 2, f"{key}: only one end reported"
        a, b = pair
        for x, y in ((a, b), (b, a)):
            handed = x["sent"] - x["lost_send"]
            assert handed == y["received"], f"{key}: {x} / {y}"
            assert y["received"] == y["dispatched"] + y["lost_run"] + y["unhandled"] + y["bad"]
        assert a["sent"] + b["sent"] == (a["dispatched"] + b["dispatched"] + a["lost"] + b["lost"]
                                         + a["unhandled"] + b["unhandled"] + a["bad"] + b["bad"])
    assert r.total_lost() == len(r.too_late), (r.counts, r.stderr)
    return ends


def check_clean(r, requester):
    assert r.code == CLEAN, r.stdout + r.stderr
    demo_pid = r.pid("demo")
    req_pid = r.pid(requester)
    assert r.said(requester, f'DemoHelplineParent (in the {requester} process) got: '
                             f'"{ASSIST.format(demo_pid)}"')
    for kind, actor in (("main", "DemoParent"), ("demo", "DemoChild"),
                        ("demo", "DemoHelplineChild"), (requester, "DemoHelplineParent")):
        assert r.said(kind, f"{actor} destroyed: NormalShutdown"), actor
    assert r.said("demo", "EmptyMessageQueue answered (ok)")
    assert r.said("main", f"demo {demo_pid} exited with status 0 (clean)")
    assert r.said("main", "result: every process ended with NormalShutdown and no message was "
                          "lost; exit status 0")
    m = re.search(r"open fds: (\d+) before the run, (\d+) after", r.stdout)
    assert m and m.group(1) == m.group(2), "main leaked fds"
    assert r.too_late == []
    ends = check_channels(r)
    assert all(c["lost"] == 0 and c["unhandled"] == 0 and c["bad"] == 0 for c in r.counts)
    expected = {("PDemo", frozenset((r.pid("main"), demo_pid))),
                ("PDemoHelpline", frozenset((req_pid, demo_pid)))}
    if requester == "content":
        expected.add(("PContent", frozenset((r.pid("main"), req_pid))))
    assert set(ends) == expected
    return demo_pid, req_pid


def test_from_main(demo):
    r = demo("--from", "main")
    check_clean(r, "main")
    assert set(r.pids) == {"main", "demo"}
    assert r.said("main", f"bridging PDemoHelpline: parent end for main {r.pid('main')}, "
                          f"child end for demo {r.pid('demo')}")


def test_from_main_is_the_default(demo):
    check_clean(demo(), "main")


def test_from_content(demo):
    r = demo("--from", "content")
    demo_pid, content_pid = check_clean(r, "content")
    assert set(r.pids) == {"main", "content", "demo"}
    assert r.said("main", f"ContentParent: content {content_pid} asks for a Demo process")
    assert r.said("main", f"bridging PDemoHelpline: parent end for content {content_pid}, "
                          f"child end for demo {demo_pid}")
    assert r.said("demo", f"DemoHelplineChild bound (PDemoHelpline with content {content_pid})")
    assert r.said("main", f"content {content_pid} exited with status 0 (clean)")
    # The assistance went content <-> demo directly: main's counts have no
    # PDemoHelpline channel.
    assert not any(c["proto"] == "PDemoHelpline" and c["self_type"] == "main" for c in r.counts)


# Who sends each logged message, and to whom, per requester.
def expected_log(r, requester):
    main, demo_pid, req = r.pid("main"), r.pid("demo"), r.pid(requester)
    return [
        # (actor, event, protocol, kind, message, self, peer)
        ("PDemoChild", "Sending", "PDemo", "Msg", "InitCrashReporter", demo_pid, main),
        ("PDemoParent", "Received", "PDemo", "Msg", "InitCrashReporter", main, demo_pid),
        ("PDemoParent", "Sending", "PDemo", "Msg", "CreateDemoHelplineChild", main, demo_pid),
        ("PDemoChild", "Received", "PDemo", "Msg", "CreateDemoHelplineChild", demo_pid, main),
        ("PDemoHelplineParent", "Sending", "PDemoHelpline", "Msg", "RequestAssistance", req,
         demo_pid),
        ("PDemoHelplineChild", "Received", "PDemoHelpline", "Msg", "RequestAssistance", demo_pid,
         req),
        ("PDemoHelplineChild", "Sending", "PDemoHelpline", "Msg", "GiveAssistance", demo_pid, req),
        ("PDemoHelplineParent", "Received", "PDemoHelpline", "Msg", "GiveAssistance", req,
         demo_pid),
        ("PDemoHelplineParent", "Sending reply", "PDemoHelpline", "Reply", "GiveAssistance", req,
         demo_pid),
        ("PDemoHelplineChild", "Received", "PDemoHelpline", "Reply", "GiveAssistance", demo_pid,
         req),
        ("PDemoChild", "Sending", "PDemo", "Msg", "EmptyMessageQueue", demo_pid, main),
        ("PDemoParent", "Received", "PDemo", "Msg", "EmptyMessageQueue", main, demo_pid),
        ("PDemoParent", "Sending reply", "PDemo", "Reply", "EmptyMessageQueue", main, demo_pid),
        ("PDemoChild", "Received", "PDemo", "Reply", "EmptyMessageQueue", demo_pid, main),
    ]


@pytest.mark.parametrize("requester", ["main", "content"])
def test_ipc_log_shows_the_seeds_flow(demo, requester):
    r = demo("--from", requester, env_extra={"IPC_LOG": "PDemo,PDemoHelpline"})
    check_clean(r, requester)
    got = []
    for m in r.log:
        _, self_pid, arrow, peer, actor, event, proto, kind, name = m.groups()
        assert (arrow == "->") == event.startswith("Sending"), m.group(0)
        assert proto in ("PDemo", "PDemoHelpline"), m.group(0)  # only what IPC_LOG names
        got.append((actor, event, proto, kind, name, int(self_pid), int(peer)))
    assert sorted(got) == sorted(expected_log(r, requester))
    # Each process logs in order: a message is sent before its reply comes.
    times = {g: int(m.group(1)) for g, m in zip(got, r.log)}
    assert times[expected_log(r, requester)[6]] <= times[expected_log(r, requester)[9]]
    # The Goodbye notes: the requester's DemoHelplineParent and main's
    # DemoParent (and ContentParent) received a Goodbye.
    notes = sorted((g.group(1), int(g.group(2)), g.group(3)) for g in r.goodbyes)
    main = r.pid("main")
    if requester == "main":
        assert notes == sorted([("default", main, "parent"), ("default", main, "parent")])
    else:
        assert notes == sorted([("tab", r.pid("content"), "parent"), ("default", main, "parent"),
                                ("default", main, "parent")])


def test_ipc_log_file_collects_every_process(demo, tmp_path):
    logfile = tmp_path / "ipc.log"
    r = demo("--from", "content", env_extra={"IPC_LOG": "PDemoHelpline",
                                             "IPC_LOG_FILE": str(logfile)})
    check_clean(r, "content")
    text = logfile.read_text()
    assert r.log == []  # nothing on stderr
    lines = [m for m in map(LOG.match, text.splitlines()) if m]
    assert len(lines) == 6  # RequestAssistance, GiveAssistance and its reply, each sent + received
    assert {int(m.group(2)) for m in lines} == {r.pid("content"), r.pid("demo")}
    logfile.unlink()


@pytest.mark.parametrize("requester", ["main", "content"])
def test_no_sentinel_terminates_and_accounts_for_every_message(demo, requester):
    """Without EmptyMessageQueue, InitCrashReporter may be lost. Whether it is
    depends on timing; what must hold every time: the run ends, lost counts
    match the "too late" lines, sent = dispatched + lost on every channel,
    and the exit status says whether anything was lost."""
    for _ in range(6):
        r = demo("--from", requester, "--no-sentinel")
        assert r.code in (CLEAN, LOST), r.stdout + r.stderr
        assert r.said("demo", "closing PDemo without the EmptyMessageQueue sentinel")
        assert not r.said("demo", "sending EmptyMessageQueue")
        check_channels(r)
        lost = r.total_lost()
        assert (r.code == LOST) == (lost > 0), r.stdout
        for m in r.too_late:
            assert m.group(4).startswith("PDemo::Msg_"), m.group(0)
        # Every actor still ended with NormalShutdown: losing messages is
        # not a crash.
        assert "AbnormalShutdown" not in r.stdout
        assert r.said("demo", "exiting with status 0")


def test_no_sentinel_with_a_busy_main_loses_init_crash_reporter(demo):
    """The seed's bug, made certain: main's thread is busy until the demo's
    Goodbye has arrived, so InitCrashReporter is still queued when PDemo
    closes and is reported lost, exactly as in the seed's log."""
    r = demo("--from", "content", "--no-sentinel", "--busy-main",
             env_extra={"IPC_LOG": "PDemo,PDemoHelpline"})
    assert r.code == LOST, r.stdout + r.stderr
    assert [m.group(0) for m in r.too_late] == [
        "###!!! [Parent][RunMessage] Error: (msgtype=0x410001,name=PDemo::Msg_InitCrashReporter) "
        "Channel closing: too late to send/recv, messages will be lost"]
    check_channels(r)
    main_pdemo = [c for c in r.counts if c["proto"] == "PDemo" and c["self_type"] == "main"]
    assert main_pdemo[0]["lost"] == 1 and main_pdemo[0]["lost_run"] == 1
    # The imbalance the seed points at: sent, never received.
    sent = [m for m in r.log if m.group(9) == "InitCrashReporter" and m.group(6) == "Sending"]
    recv = [m for m in r.log if m.group(9) == "InitCrashReporter" and m.group(6) == "Received"]
    assert len(sent) == 1 and recv == []
    assert r.said("main", "main's thread is free again: the Goodbye arrived while it was busy")
    assert r.said("main", "result: clean shutdown, but messages were lost")
    assert "AbnormalShutdown" not in r.stdout


def test_busy_main_with_the_sentinel_loses_nothing(demo):
    r = demo("--from", "content", "--busy-main")
    check_clean(r, "content")
    assert r.said("main", "main's thread is free again: EmptyMessageQueue arrived while it was busy")


def test_crashing_demo_is_abnormal_shutdown_with_a_report(demo, tmp_path):
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    r = demo("--crash-demo", "--crash-dir", crashes,
             env_extra={"ASAN_OPTIONS": "handle_abort=0:" + os.environ.get("ASAN_OPTIONS", "")})
    assert r.code == ABNORMAL, r.stdout + r.stderr
    demo_pid = r.pid("demo")
    assert r.said("main", "DemoParent destroyed: AbnormalShutdown")
    assert r.said("main", "DemoHelplineParent destroyed: AbnormalShutdown (the promise is "
                          "rejected: no assistance came)")
    assert r.said("main", f"demo {demo_pid} was killed by SIGABRT")
    report = crashes / f"ipc-crash-demo-{demo_pid}.txt"
    assert r.said("main", f"crash report for demo {demo_pid}: {report}")
    text = report.read_text()
    assert f"pid: {demo_pid}\n" in text and "signal: SIGABRT\n" in text
    assert "recv PDemo::Msg_InitCrashReporter" in text
    assert "sent PDemo::Msg_CreateDemoHelplineChild" in text
    assert r.said("main", "result: a process did not end cleanly; exit status 2")
    report.unlink()
    crashes.rmdir()


def test_timeout_kills_and_reaps_what_is_left(demo):
    """A child that never answers (held in libipc's debug pause): main's
    watchdog ends the run with status 4, kills and reaps the child, and leaves
    nothing behind (the fixture checks the process group)."""
    r = demo("--timeout", "1", env_extra={"IPC_DEBUG_CHILD_PAUSE": "60"})
    assert r.code == TIMEOUT, r.stdout + r.stderr
    demo_pid = int(re.search(r"Demo process (\d+) is running", r.stdout).group(1))
    assert r.said("main", f"killing demo {demo_pid}: still running at the timeout")
    assert "timed out after 1 s" in r.stderr
    assert r.said("main", "result: timed out; exit status 4")
    m = re.search(r"open fds: (\d+) before the run, (\d+) after", r.stdout)
    assert m and m.group(1) == m.group(2)


@pytest.mark.parametrize("args", [
    ["--from", "nowhere"], ["--from"], ["--bogus"], ["--timeout", "0"], ["--busy-main"],
    ["--busy-main", "--from", "main"]])
def test_usage_errors(demo, args):
    r = demo(*args)
    assert r.code == USAGE
    assert r.stdout == ""
    assert "ipcrig-demo:" in r.stderr


def test_help(demo_bin):
    proc = subprocess.run([str(demo_bin), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "usage: ipcrig-demo" in proc.stdout and "Exit status:" in proc.stdout
