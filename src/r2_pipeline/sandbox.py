"""Run model-written Python in a separate, limited process and report whether it passed: own uid,
process group, temp dir, network and mount namespaces and limits (set up by `sandbox_child`);
whatever the program leaves behind is killed and removed.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from r2_pipeline import sandbox_child
from r2_pipeline.sandbox_child import CLEAN_PATH, pids_of

log = logging.getLogger(__name__)

# Each run gets its own uid, so the per-uid process limit, the kill sweep and file permissions
# never reach another run; the block moves with our pid so two evaluators never meet.
UID_BASE = 100_000
UID_BLOCK = 1024
MAX_WORKERS = 64
# The harness reads its token and deletes it before any candidate code runs, and writes it to a
# descriptor the candidate never needs: an early sys.exit(0) or os._exit(0) does not fake a pass.
# It guards against programs that end early by accident, not against code written to cheat: the
# token is in the harness's frame, in the program's own process.
HARNESS = """\
import os, sys
def _r2_main():
    with open("_r2_token") as f:
        token = f.read()
    os.remove("_r2_token")
    if os.environ.pop("R2_SANDBOX_NET", "") == "guard":
        import socket
        def _blocked(*args, **kwargs):
            raise OSError("network disabled in the sandbox")
        socket.socket = socket.create_connection = socket.socketpair = _blocked
    with open("candidate.py") as f:
        source = f.read()
    exec(compile(source, "candidate.py", "exec"), {"__name__": "__candidate__"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(3, ("\\n" + token + "\\n").encode())
_r2_main()
"""


@dataclass(frozen=True)
class Limits:
    """What one program may use; `cpu_s` defaults to the wall-clock timeout plus one second."""

    timeout_s: float = 10.0
    cpu_s: int | None = None
    memory_mb: int = 1024
    max_processes: int = 16
    max_file_mb: int = 16
    max_output_bytes: int = 20_000


@dataclass
class Result:
    """`status` is passed, failed (non-zero exit or no pass token) or timeout."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: dict

    @property
    def passed(self) -> bool:
        return self.status == "passed"


_run_counter = itertools.count()
_counter_lock = threading.Lock()


def _next_uid() -> int:
    """A uid no live run shares: our pid picks a block, a rotating counter a uid inside it, so a
    uid whose last run left zombies (they count against RLIMIT_NPROC) is not reused at once."""
    with _counter_lock:
        n = next(_run_counter) % UID_BLOCK
    return UID_BASE + (os.getpid() % (1 << 20)) * UID_BLOCK + n


def run_program(source: str, limits: Limits | None = None) -> Result:
    """Run one program to completion (or its timeout) and clean up after it, whatever it did."""
    return _run_as(source, limits or Limits(), _next_uid())


def run_programs(
    sources: Sequence[str], limits: Limits | None = None, max_workers: int | None = None
) -> list[Result]:
    """Run many programs, at most `max_workers` at once; results come back in input order."""
    workers = max(1, min(max_workers or os.cpu_count() or 1, MAX_WORKERS, len(sources) or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda s: run_program(s, limits), sources))


def _run_as(source: str, limits: Limits, uid: int) -> Result:
    root = tempfile.mkdtemp(prefix="r2-sandbox-")
    try:
        work = _prepare_dir(root, source, uid)
        return _execute(root, work, limits, uid)
    finally:
        _reap(uid)
        shutil.rmtree(root, ignore_errors=True)


def _prepare_dir(root: str, source: str, uid: int) -> str:
    """Root-owned outer dir (traverse only) holding logs; the program's own dir inside it."""
    os.chmod(root, 0o711)
    work = os.path.join(root, "work")
    os.mkdir(work, 0o700)
    files = {"main.py": HARNESS, "candidate.py": source, "_r2_token": secrets.token_hex(16)}
    for name, text in files.items():
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    if _is_root():
        for path in [work, *(os.path.join(work, n) for n in files)]:
            os.chown(path, uid, uid)
    return work


def _execute(root: str, work: str, limits: Limits, uid: int) -> Result:
    with open(os.path.join(work, "_r2_token")) as f:
        token = f.read()
    paths = {k: os.path.join(root, k) for k in ("stdout", "stderr", "result")}
    with (
        open(paths["stdout"], "wb") as out,
        open(paths["stderr"], "wb") as err,
        open(paths["result"], "wb") as res,
    ):
        for f in (out, err, res):
            os.fchmod(f.fileno(), 0o600)
        start = time.monotonic()
        returncode = _launch(work, limits, uid, (out, err, res))
        duration = time.monotonic() - start
    text = {k: _tail(p, limits.max_output_bytes) for k, p in paths.items()}
    isolation, passed = _read_result(text["result"], token)
    _warn_weaker(isolation)
    if returncode is None:
        status = "timeout"
    else:
        status = "passed" if returncode == 0 and passed else "failed"
    return Result(status, returncode, text["stdout"], text["stderr"], duration, isolation)


def _launch(work: str, limits: Limits, uid: int, streams: tuple) -> int | None:
    """Start the bootstrap in its own session; on timeout kill its whole process group."""
    out, err, res = streams
    config = {
        "work": work,
        "uid": uid,
        "limits": asdict(limits),
        "python": sandbox_python(),
        "result_fd": res.fileno(),
    }
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", sandbox_child.__file__, json.dumps(config)],
        cwd=work,
        env={"PATH": CLEAN_PATH, "LANG": "C.UTF-8"},
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        pass_fds=(res.fileno(),),
        start_new_session=True,
    )
    try:
        return proc.wait(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        return None
    finally:
        _kill_group(proc.pid)
        proc.wait()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(uid: int) -> None:
    """Kill every process left under the run's uid: setsid() escapes a process group, not a uid."""
    if not _is_root():
        return
    for _ in range(20):
        if not pids_of(uid):
            return
        # kill(-1) from inside the uid reaches all its processes in one kernel pass, so a fork
        # loop cannot outrun it the way a scan-then-kill loop from outside can be outrun.
        subprocess.run(
            [
                sandbox_python(),
                "-I",
                "-S",
                "-c",
                "import os\ntry: os.kill(-1, 9)\nexcept OSError: pass",
            ],
            user=uid,
            group=uid,
            extra_groups=[],
            env={"PATH": CLEAN_PATH},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        time.sleep(0.01)
    log.warning("sandbox uid %d still has processes %s after cleanup", uid, pids_of(uid))


def _tail(path: str, n_bytes: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - n_bytes))
        return f.read().decode("utf-8", errors="replace")


def _read_result(text: str, token: str) -> tuple[dict, bool]:
    """First line: the isolation the bootstrap achieved; the token appears only after a pass."""
    first, _, rest = text.partition("\n")
    try:
        isolation = json.loads(first)
    except json.JSONDecodeError:
        isolation = {}
    return isolation, token in rest.split()


_WARNED: set[str] = set()


def _warn_weaker(isolation: dict) -> None:
    """Say once per process what this host's sandbox cannot do, so a grade is read knowing it."""
    weaker = []
    if isolation and not isolation.get("root"):
        weaker.append(("root", "programs run as this user, so they can write wherever it can (no mount "
                               "namespace); run as root for a uid of their own and read-only shared dirs"))
    if isolation and not isolation.get("net_ns"):
        weaker.append(("net", "no network namespace could be made: the network is blocked only by a "
                              "Python-level guard, which a program can get around"))
    if isolation.get("python") and isolation["python"] != sys.executable:
        weaker.append(("python", f"programs run under {isolation['python']}, not {sys.executable} (which "
                                 "the sandbox uid cannot reach): packages installed here are not importable "
                                 "by them"))
    for key, message in weaker:
        if key not in _WARNED:
            _WARNED.add(key)
            log.warning("sandbox: %s", message)


def _is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def sandbox_python() -> str:
    """An interpreter the sandbox uid can run: ours when every directory on its path lets others
    through (a venv under /root or a 0700 temp dir does not), else the system python3."""
    candidates = [sys.executable, *(os.path.join(d, "python3") for d in CLEAN_PATH.split(":"))]
    usable = [p for p in candidates if not _is_root() or _world_executable(p)]
    return usable[0] if usable else sys.executable


def _world_executable(path: str) -> bool:
    """Whether a user with no rights of its own can reach and run `path`, links followed."""
    paths = {Path(path).absolute(), Path(path).resolve()}
    if not all(p.exists() for p in paths):
        return False
    dirs = {d for p in paths for d in p.parents}
    reachable = all(d.stat().st_mode & stat.S_IXOTH for d in dirs)
    return reachable and bool(os.stat(path).st_mode & stat.S_IXOTH)
