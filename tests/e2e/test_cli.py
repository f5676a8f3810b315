"""End-to-end tests of the ipcrig CLI's msgname, protocols and decode commands,
driving the built binary as a subprocess with crafted good and bad streams."""
import shutil
import subprocess

import pytest

from conftest import (BUILD, REPLY, REPLY_ERROR, ROOT, SYNC, WANTS_REPLY, frame, p_bytes,
                      p_i32, p_string, p_u32)

INIT_CRASH_REPORTER = 0x410001
CREATE_HELPLINE_CHILD = 0x410002
EMPTY_MESSAGE_QUEUE = 0x410003
GIVE_ASSISTANCE = 0x420002
ADD_NEW_PROCESS = 0x430003
LOAD_URL = 0x440001
SYNC_ECHO = 0x7E0003
HELLO = 0xFFFF0001


# ---- general ----

def test_help_lists_every_command(ipcrig):
    r = ipcrig("--help")
    assert r.returncode == 0
    for cmd in ("msgname", "protocols", "decode"):
        assert cmd in r.stdout


def test_no_command_is_a_usage_error(ipcrig):
    r = ipcrig()
    assert r.returncode == 2
    assert "usage" in r.stderr


def test_unknown_command_is_named(ipcrig):
    r = ipcrig("frobnicate")
    assert r.returncode == 2
    assert "'frobnicate'" in r.stderr


@pytest.mark.parametrize("cmd", ["msgname", "protocols", "decode"])
def test_every_command_has_help(ipcrig, cmd):
    r = ipcrig(cmd, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith(f"usage: ipcrig {cmd}")


# ---- msgname ----

def test_msgname_seed_example(ipcrig):
    r = ipcrig("msgname", "0x410001")
    assert (r.returncode, r.stdout) == (0, "PDemo::Msg_InitCrashReporter\n")


def test_msgname_accepts_decimal(ipcrig):
    r = ipcrig("msgname", str(0x410001))
    assert (r.returncode, r.stdout) == (0, "PDemo::Msg_InitCrashReporter\n")


def test_msgname_reply(ipcrig):
    r = ipcrig("msgname", "--reply", "0x420002")
    assert r.stdout == "PDemoHelpline::Reply_GiveAssistance\n"


def test_msgname_verbose(ipcrig):
    r = ipcrig("msgname", "--verbose", "0x410001")
    assert r.returncode == 0
    out = r.stdout
    assert "class 0x41 PDemo, id 1" in out
    assert "child->parent" in out
    assert "async" in out
    assert "pid: int32, info: ipcrig.CrashReporterInit" in out


def test_msgname_verbose_sync_shows_reply(ipcrig):
    r = ipcrig("msgname", "-v", "0x7e0003")
    assert "sync" in r.stdout
    assert "reply      (out: string)" in r.stdout


def test_msgname_internal_class(ipcrig):
    assert ipcrig("msgname", "0xffff0001").stdout == "IPC::Msg_Hello\n"


def test_msgname_unknown_id_in_known_class(ipcrig):
    r = ipcrig("msgname", "0x410099")
    assert r.returncode == 1
    assert r.stdout == "0x00410099 (class 0x41 PDemo, id 0x99: unknown)\n"


def test_msgname_unknown_class(ipcrig):
    r = ipcrig("msgname", "0x7f0001")
    assert r.returncode == 1
    assert r.stdout == "0x007f0001 (class 0x7f unknown, id 0x1)\n"


def test_msgname_name_to_number(ipcrig):
    r = ipcrig("msgname", "PDemo::InitCrashReporter", "PTest::Msg_SyncEcho", "GiveAssistance")
    assert r.returncode == 0
    assert r.stdout.split() == ["0x00410001", "0x007e0003", "0x00420002"]


@pytest.mark.parametrize("bad", ["0xZZ", "12abc", "0x", "0x1ffffffff", "99999999999"])
def test_msgname_bad_number_names_the_argument(ipcrig, bad):
    r = ipcrig("msgname", bad)
    assert r.returncode == 1
    assert f"'{bad}'" in r.stderr


def test_msgname_needs_an_argument(ipcrig):
    r = ipcrig("msgname")
    assert r.returncode == 2
    assert "no message type" in r.stderr


def test_msgname_unknown_option(ipcrig):
    r = ipcrig("msgname", "--frob", "1")
    assert r.returncode == 2
    assert "'--frob'" in r.stderr


# ---- protocols ----

EXPECTED = {
    "PDemo": (0x41, ["InitCrashReporter", "CreateDemoHelplineChild", "EmptyMessageQueue"]),
    "PDemoHelpline": (0x42, ["RequestAssistance", "GiveAssistance"]),
    "PContent": (0x43, ["LaunchDemoProcess", "NuwaFork", "AddNewProcess", "TurnIntoApp",
                        "Ready", "CreateBrowser"]),
    "PBrowser": (0x44, ["LoadURL", "TitleChanged"]),
    "PTest": (0x7E, ["Ping", "Pong", "SyncEcho", "RoutedPing", "AllKinds", "Fds"]),
    "IPC": (0xFFFF, ["Hello", "Goodbye", "Constructor", "Delete", "ConstructorRefused"]),
}


def parse_protocols(text):
    protos, current = {}, None
    for line in text.splitlines():
        if not line.startswith(" "):
            current = line.split()[0]
            protos[current] = (line, [])
        else:
            protos[current][1].append(line.split())
    return protos


def test_protocols_lists_every_protocol_and_message(ipcrig):
    r = ipcrig("protocols")
    assert r.returncode == 0
    protos = parse_protocols(r.stdout)
    assert list(protos) == list(EXPECTED)
    for name, (cls, msgs) in EXPECTED.items():
        header, rows = protos[name]
        assert f"class 0x{cls:x}" in header
        assert [row[1] for row in rows] == msgs
        for i, row in enumerate(rows, start=1):
            assert int(row[0], 16) == cls << 16 | i


def test_protocols_shows_direction_sync_and_params(ipcrig):
    out = ipcrig("protocols", "PContent", "PTest").stdout
    line = next(l for l in out.splitlines() if "LaunchDemoProcess" in l)
    assert "child->parent" in line and "async-returns" in line
    assert "-> (endpoint: fd, info: ipcrig.EndpointInfo)" in line
    line = next(l for l in out.splitlines() if " SyncEcho " in l)
    assert " sync " in line and "(in: string) -> (out: string)" in line
    line = next(l for l in out.splitlines() if "RoutedPing" in l)
    assert "routed" in line and "both" in line


def test_protocols_unknown_name(ipcrig):
    r = ipcrig("protocols", "PNope")
    assert r.returncode == 1
    assert "'PNope'" in r.stderr


# ---- decode ----

def good_stream():
    return b"".join([
        frame(HELLO, p_i32(1234)),
        # InitCrashReporter: pid, then CrashReporterInit{dump_dir: "/tmp"} (field 3, len 4).
        frame(INIT_CRASH_REPORTER, p_i32(42) + p_bytes(b"\x1a\x04/tmp")),
        frame(LOAD_URL, p_string("https://example.org/\n"), routing_id=7),
        frame(SYNC_ECHO, p_string("hi"), flags=SYNC, txn=5),
        frame(SYNC_ECHO, p_string("echo: hi"), flags=REPLY, txn=5),
        frame(GIVE_ASSISTANCE, b"", flags=REPLY | REPLY_ERROR, txn=9),
        frame(EMPTY_MESSAGE_QUEUE, b"", flags=WANTS_REPLY, txn=2),
    ])


def test_decode_good_stream(ipcrig, tmp_path):
    path = tmp_path / "good.bin"
    path.write_bytes(good_stream())
    r = ipcrig("decode", path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("#0 @0 IPC::Msg_Hello routing=control flags=- txn=0 fds=0 size=4: ")
    assert lines[0].endswith(": pid=1234")
    assert lines[1].startswith("#1 @28 PDemo::Msg_InitCrashReporter")
    assert lines[1].endswith('pid=42, info={pid: 0, process_type: "", dump_dir: "/tmp"}')
    assert "PBrowser::Msg_LoadURL routing=7" in lines[2]
    assert lines[2].endswith('url="https://example.org/\\n"')
    assert "PTest::Msg_SyncEcho" in lines[3] and "flags=sync txn=5" in lines[3]
    assert lines[4].endswith('out="echo: hi"') and "PTest::Reply_SyncEcho" in lines[4]
    assert "PDemoHelpline::Reply_GiveAssistance" in lines[5] and lines[5].endswith("reply error")
    assert "flags=wants-reply" in lines[6]
    assert lines[-1] == "7 messages, clean"


def test_decode_reads_stdin(ipcrig):
    r = ipcrig("decode", "-", stdin=good_stream())
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "7 messages, clean"


def test_decode_empty_stream_is_clean(ipcrig):
    r = ipcrig("decode", "-", stdin=b"")
    assert (r.returncode, r.stdout) == (0, "0 messages, clean\n")


def test_decode_truncated_header(ipcrig):
    data = frame(HELLO, p_i32(1)) + frame(HELLO, p_i32(2))[:10]
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    last = r.stdout.splitlines()[-1]
    assert last.startswith("error: IPC_E_TRUNCATED")
    assert "frame #1 at byte offset 28" in last
    assert "ends 10 bytes into its 24-byte header" in last


def test_decode_truncated_payload_names_the_type(ipcrig):
    data = frame(HELLO, p_i32(1)) + frame(LOAD_URL, p_string("abcdef"), routing_id=1)[:-4]
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    last = r.stdout.splitlines()[-1]
    assert "IPC_E_TRUNCATED" in last
    assert "byte offset 28" in last and "PBrowser::Msg_LoadURL" in last


def test_decode_bad_flags_names_offset_and_type(ipcrig):
    data = frame(HELLO, p_i32(1)) + frame(HELLO, p_i32(1)) + frame(INIT_CRASH_REPORTER, b"",
                                                                   flags=0x80)
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("error: IPC_E_BAD_FLAGS")
    assert "frame #2 at byte offset 56" in lines[-1]
    assert "PDemo::Msg_InitCrashReporter" in lines[-1]


def test_decode_unknown_type(ipcrig):
    data = frame(0x410099, b"")
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    assert "IPC_E_UNKNOWN_TYPE" in r.stdout
    assert "0x00410099 (class 0x41 PDemo, id 0x99: unknown)" in r.stdout
    r = ipcrig("decode", "--allow-unknown", "-", stdin=data + frame(HELLO, p_i32(3)))
    assert r.returncode == 0
    assert "(undeclared type; 0 payload bytes not decoded)" in r.stdout
    assert r.stdout.splitlines()[-1] == "2 messages, clean"


def test_decode_bad_params_are_classified_and_decoding_goes_on(ipcrig):
    data = b"".join([
        frame(EMPTY_MESSAGE_QUEUE, p_u32(2), flags=REPLY, txn=1),     # bool 2
        frame(LOAD_URL, p_bytes(b"a\0b"), routing_id=1),              # embedded NUL
        frame(INIT_CRASH_REPORTER, p_i32(1) + p_bytes(b"\xff\xff")),  # garbage protobuf
        frame(HELLO, p_i32(1) + p_u32(0)),                            # trailing bytes
        frame(HELLO, p_i32(7)),                                       # fine
    ])
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "params malformed: IPC_E_BAD_BOOL" in lines[0] and "at param 'ok' (#0, bool)" in lines[0]
    assert "IPC_E_BAD_STRING" in lines[1] and "'url'" in lines[1]
    assert "IPC_E_BAD_PROTO" in lines[2] and "'info' (#1, proto)" in lines[2]
    assert "IPC_E_TRAILING" in lines[3] and "after the last param" in lines[3]
    assert lines[4].endswith("pid=7")
    assert lines[-1] == "5 messages, 4 with malformed params"


def test_decode_frames_with_fds(ipcrig):
    data = frame(ADD_NEW_PROCESS, p_i32(77) + p_i32(0), num_fds=1)
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    assert "IPC_E_FD_COUNT" in r.stdout.splitlines()[-1]
    r = ipcrig("decode", "--placeholder-fds", "-", stdin=data + data)
    assert r.returncode == 0, r.stdout
    lines = r.stdout.splitlines()
    assert "fds=1" in lines[0] and "pid=77, channel=#" in lines[0]
    assert lines[-1] == "2 messages, clean"


def test_decode_fd_index_past_the_fds(ipcrig):
    data = frame(ADD_NEW_PROCESS, p_i32(77) + p_i32(3), num_fds=1)
    r = ipcrig("decode", "--placeholder-fds", "-", stdin=data)
    assert r.returncode == 1
    assert "IPC_E_BAD_FD_INDEX" in r.stdout and "'channel'" in r.stdout


def test_decode_payload_limit(ipcrig):
    data = frame(HELLO, p_i32(1)) + frame(LOAD_URL, p_string("x" * 64))
    r = ipcrig("decode", "--max-payload", "16", "-", stdin=data)
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1].startswith("error: IPC_E_BAD_SIZE")
    assert "byte offset 28" in r.stdout


def test_decode_lying_payload_size(ipcrig):
    data = frame(HELLO, p_i32(1), payload_size=0x7FFFFFFC)
    r = ipcrig("decode", "-", stdin=data)
    assert r.returncode == 1
    assert "IPC_E_BAD_SIZE" in r.stdout


def test_decode_garbage_never_crashes(ipcrig):
    import random
    rng = random.Random(1234)
    for _ in range(30):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        r = ipcrig("decode", "--allow-unknown", "--placeholder-fds", "-", stdin=data)
        assert r.returncode in (0, 1), (data.hex(), r.returncode, r.stderr)


def test_decode_missing_file_is_named(ipcrig, tmp_path):
    missing = tmp_path / "nope.bin"
    r = ipcrig("decode", missing)
    assert r.returncode == 1
    assert str(missing) in r.stderr and "No such file" in r.stderr


@pytest.mark.parametrize("args,what", [((), "no input"), (("a", "b"), "more than one input"),
                                        (("--max-payload",), "needs a number"),
                                        (("--bogus", "-"), "'--bogus'")])
def test_decode_usage_errors(ipcrig, args, what):
    r = ipcrig("decode", *args)
    assert r.returncode == 2
    assert what in r.stderr


# ---- the message-map handler type is checked by the compiler ----

HANDLER_SRC = """
#include "ipc/protocols/all.h"
static int h(void *ctx, ipc_msg *msg, %s *in, ipc_PDemo_InitCrashReporter_reply *out)
{ (void)ctx; (void)msg; (void)in; (void)out; return 0; }
static const ipc_msgmap_entry map[] = { IPC_HANDLER(PDemo, InitCrashReporter, h) };
const ipc_msgmap_entry *get(void) { return map; }
"""


@pytest.mark.parametrize("param_type,ok", [("ipc_PDemo_InitCrashReporter", True),
                                           ("ipc_PDemo_CreateDemoHelplineChild", False)])
def test_handler_type_is_checked_at_compile_time(tmp_path, param_type, ok):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler")
    src = tmp_path / "h.c"
    src.write_text(HANDLER_SRC % param_type)
    r = subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Werror", "-fsyntax-only",
                        f"-I{ROOT / 'ipc' / 'include'}", f"-I{BUILD / 'gen'}", str(src)],
                       capture_output=True, text=True)
    assert (r.returncode == 0) == ok, r.stderr
    if not ok:
        assert "_Generic" in r.stderr
