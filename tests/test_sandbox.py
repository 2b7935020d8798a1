"""The sandbox against hostile programs: each fails alone, and the next normal program passes."""

from __future__ import annotations

import os
import socket
import tempfile
import textwrap

import pytest

from r2_pipeline.sandbox import Limits, run_program, run_programs
from r2_pipeline.sandbox_child import pids_of

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid, mount and kill isolation need root")
FAST = Limits(timeout_s=1.5, memory_mb=256)
NORMAL = "assert sum(range(10)) == 45\nprint('ok')"
SECRET = "r2-sandbox-test-secret-4f1c"


@pytest.fixture(scope="module")
def listener():
    """A real loopback server in the parent: reachable from here, not from the sandbox."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(autouse=True)
def parent_secret(monkeypatch):
    monkeypatch.setenv("R2_TEST_SECRET", SECRET)


def src(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


HOSTILE = {
    "busy loop": "while True:\n    pass",
    "sleeps forever": "import time\ntime.sleep(1000)",
    "fork bomb": src("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """),
    "endless allocation": "chunks = []\nwhile True:\n    chunks.append(b'x' * 50_000_000)",
    "endless output": "import sys\nwhile True:\n    sys.stdout.write('x' * 100_000)",
    "writes to /tmp": "open('/tmp/r2-sandbox-escape', 'w').write('x')",
    "writes to /dev/shm": "open('/dev/shm/r2-sandbox-escape', 'w').write('x')",
    # Both print what they find, so a leak would show in the output, not only in the status.
    "reads the env": "import os\nprint(os.environ['R2_TEST_SECRET'])",
    "reads the parent's environ": "import os\nprint(open(f'/proc/{os.getppid()}/environ').read())",
    "exits 0 early": "import sys\nsys.exit(0)\nassert False",
    "os._exit(0) early": "import os\nos._exit(0)",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_fails_and_the_next_one_passes(name):
    result = run_program(HOSTILE[name], FAST)
    assert not result.passed, result
    assert SECRET not in result.stdout + result.stderr
    assert run_program(NORMAL, FAST).passed


def test_socket_is_blocked(listener):
    for code in (
        f"import socket\nsocket.create_connection(('127.0.0.1', {listener}), timeout=1)",
        f"import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {listener}))",
    ):
        result = run_program(code, FAST)
        assert result.status == "failed"
        assert "OSError" in result.stderr
    socket.create_connection(("127.0.0.1", listener), timeout=1).close()  # the parent still can


@needs_root
def test_kernel_isolation_is_in_force():
    isolation = run_program(NORMAL, FAST).isolation
    assert isolation["net_ns"] and isolation["mount_ns"]
    assert isolation["uid"] != 0


@needs_root
def test_writes_outside_its_directory_fail(tmp_path):
    paths = ["/tmp/r2-sandbox-escape", "/dev/shm/r2-sandbox-escape", str(tmp_path / "x")]
    for path in paths:
        assert not run_program(f"open({path!r}, 'w').write('x')", FAST).passed
        assert not os.path.exists(path)
    inside = "open('out.txt', 'w').write('fine')\nassert open('out.txt').read() == 'fine'"
    assert run_program(inside, FAST).passed


def test_timeouts_are_reported_as_such():
    result = run_program("while True:\n    pass", Limits(timeout_s=1.0))
    assert result.status == "timeout"
    assert result.duration_s < 5


@needs_root
def test_no_process_survives_its_run():
    """A fork bomb, and children that leave the process group with setsid(), are all killed."""
    escapee = src("""
        import os, time
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()
                time.sleep(1000)
        """)
    for code in (HOSTILE["fork bomb"], escapee):
        result = run_program(code, FAST)
        assert pids_of(result.isolation["uid"]) == []


def test_output_is_cut_and_normal_output_kept():
    result = run_program(HOSTILE["endless output"], FAST)
    assert len(result.stdout) <= FAST.max_output_bytes
    ok = run_program(NORMAL, FAST)
    assert ok.stdout == "ok\n"


def test_failures_keep_the_traceback():
    result = run_program("assert 1 + 1 == 3", FAST)
    assert result.status == "failed"
    assert "AssertionError" in result.stderr


def test_a_batch_keeps_every_result_in_order():
    """Hostile programs mixed with normal ones, run in parallel: nothing lost, nothing leaks."""
    names = sorted(HOSTILE)
    programs = [p for name in names for p in (HOSTILE[name], NORMAL)]
    results = run_programs(programs, FAST, max_workers=4)
    assert len(results) == len(programs)
    assert [r.passed for r in results] == [False, True] * len(names)


def test_temporary_directories_are_removed(monkeypatch):
    """Every folder the runs make is gone after them (the runs' own: other processes, as pytest's
    other workers, may be running sandboxes in the same temporary folder)."""
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording(*args, **kwargs) -> str:
        path = mkdtemp(*args, **kwargs)
        made.append(path)  # runs make their folders from several threads: return this call's own
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    run_programs([NORMAL, HOSTILE["busy loop"], HOSTILE["writes to /tmp"]], FAST, max_workers=3)
    assert len(made) == 3 and all(os.path.basename(d).startswith("r2-sandbox-") for d in made)
    assert not [d for d in made if os.path.exists(d)]


NON_ROOT_RUN = """
import json, os, sys, textwrap, time
from r2_pipeline.sandbox import Limits, run_program
from r2_pipeline.sandbox_child import pids_of
escapee = textwrap.dedent('''
    import os, time
    for _ in range(3):
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
    ''')
result = run_program(escapee, Limits(timeout_s=3))
time.sleep(0.3)
left = [p for p in pids_of(os.getuid()) if p != os.getpid() and open(f"/proc/{p}/cmdline", "rb").read().endswith(b"main.py\\x00")]
print(json.dumps({"status": result.status, "isolation": result.isolation, "left": left}))
"""


@needs_root
def test_without_root_what_a_program_leaves_running_dies_with_it(tmp_path):
    """Run as an ordinary user (nobody), the sandbox cannot sweep a uid of the run's own; a PID
    namespace whose first process is the harness ends every process the program detached."""
    import json
    import shutil
    import subprocess

    import r2_pipeline

    python = "/usr/bin/python3"
    if not os.access(python, os.X_OK) or subprocess.run([python, "-c", "import sys; assert sys.version_info >= (3, 10)"],
                                                        check=False).returncode:
        pytest.skip("no system python3 >= 3.10 for an ordinary user to run")
    package = tempfile.mkdtemp()  # the sandbox modules only: nobody cannot read a 0700 checkout
    os.chmod(package, 0o755)
    try:
        shutil.copytree(os.path.dirname(r2_pipeline.__file__), os.path.join(package, "r2_pipeline"),
                        ignore=lambda d, names: [n for n in names if n not in ("__init__.py", "sandbox.py",
                                                                               "sandbox_child.py")])
        os.chmod(os.path.join(package, "r2_pipeline"), 0o755)
        done = subprocess.run([python, "-I", "-c", f"import sys; sys.path.insert(0, {package!r})\n{NON_ROOT_RUN}"],
                              user=65534, group=65534, extra_groups=[], cwd="/", capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    finally:
        shutil.rmtree(package, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if not report["isolation"].get("net_ns"):
        pytest.skip(f"no unprivileged user namespaces here: {report['isolation']}")
    assert report["status"] == "passed" and not report["isolation"]["root"] and report["isolation"]["pid_ns"]
    assert report["left"] == []


def test_a_weaker_sandbox_says_so_once(caplog, monkeypatch):
    """Without root, without a network namespace, or under another interpreter, a grade is read
    knowing what the sandbox could not do: one warning each per process."""
    import logging

    from r2_pipeline import sandbox

    monkeypatch.setattr(sandbox, "_WARNED", set())
    caplog.set_level(logging.WARNING, logger="r2_pipeline.sandbox")
    weak = {"root": False, "net_ns": False, "python": "/usr/bin/python3-elsewhere"}
    sandbox._warn_weaker(weak)
    sandbox._warn_weaker(weak)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "can write wherever it can" in messages[0] and "Python-level guard" in messages[1]
    assert "/usr/bin/python3-elsewhere" in messages[2]
    caplog.clear()
    sandbox._warn_weaker({"root": True, "net_ns": True, "python": sandbox.sys.executable})
    assert caplog.records == []
