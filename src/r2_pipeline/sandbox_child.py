"""The sandbox's child side: run as a script by `sandbox`, it isolates and limits the fresh process,
drops to the run's uid and execs the harness. Few, light imports: it starts once per program.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import signal
import stat
import sys

CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
RESULT_FD = 3
MB = 1024 * 1024

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18


def boot(config: dict) -> None:
    """Isolate (network, filesystem), limit, drop privileges, then exec the harness."""
    limits, uid, work = config["limits"], config["uid"], config["work"]
    root = os.geteuid() == 0
    facts = {"root": root, "net_ns": False, "mount_ns": False, "pid_ns": False, "uid": os.getuid(),
             "python": config["python"]}
    if root and unshare(CLONE_NEWNS | CLONE_NEWNET):
        facts["net_ns"] = True
        facts["mount_ns"] = protect_filesystem(work)
    set_limits(limits, 0 if root else own_tasks())
    if root:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        facts["uid"] = uid
    if not facts["net_ns"]:
        # Without root an unprivileged user namespace can still own an empty network namespace, and
        # a PID namespace whose first process is the harness: when it ends (or its bootstrap is
        # killed), the kernel kills whatever the program left running. Root runs get a uid of their
        # own instead, which `sandbox._reap` sweeps.
        if unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID):
            facts["net_ns"] = facts["pid_ns"] = True
            become_namespace_init()
        else:
            facts["net_ns"] = unshare(CLONE_NEWUSER | CLONE_NEWNET)
    if config["result_fd"] != RESULT_FD:
        os.dup2(config["result_fd"], RESULT_FD)
        os.close(config["result_fd"])
    os.write(RESULT_FD, (json.dumps(facts) + "\n").encode())
    os.execve(config["python"], [config["python"], "-I", "main.py"], child_env(work, facts))


def become_namespace_init() -> None:
    """Fork into the new PID namespace: the child (its process 1) returns and goes on to the harness,
    and dies with this process; this process waits and exits with the child's status."""
    pid = os.fork()
    if pid == 0:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        return
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def child_env(work: str, facts: dict) -> dict[str, str]:
    """A fresh environment: none of the parent's variables (keys, tokens, paths) reach it."""
    env = {"PATH": CLEAN_PATH, "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if not facts["net_ns"]:
        env["R2_SANDBOX_NET"] = "guard"
    return env


def unshare(flags: int) -> bool:
    return _libc().unshare(flags) == 0


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source else None
    if _libc().mount(src, target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def protect_filesystem(work: str) -> bool:
    """In the private mount namespace make every world-writable directory read-only, then give
    the run's own directory back its write access."""
    try:
        _mount(None, "/", MS_REC | MS_PRIVATE)
        for d in WORLD_WRITABLE:
            if os.path.isdir(d) and os.stat(d).st_mode & stat.S_IWOTH:
                _mount(d, d, MS_BIND | MS_REC)
                _mount(None, d, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        _mount(work, work, MS_BIND)
        _mount(None, work, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)
    except OSError:
        return False
    return True


def set_limits(limits: dict, nproc_base: int) -> None:
    cpu = limits["cpu_s"] or math.ceil(limits["timeout_s"]) + 1
    for name, value in [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (limits["memory_mb"] * MB,) * 2),
        (resource.RLIMIT_NPROC, (nproc_base + limits["max_processes"],) * 2),
        (resource.RLIMIT_FSIZE, (limits["max_file_mb"] * MB,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NOFILE, (256, 256)),
    ]:
        resource.setrlimit(name, value)


def own_tasks() -> int:
    """Threads we already run: RLIMIT_NPROC counts them all against a shared (non-root) uid."""
    tasks = 0
    for pid in pids_of(os.getuid()):
        try:
            tasks += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return tasks


def pids_of(uid: int) -> list[int]:
    """Live processes of `uid`; zombies are already dead and wait only for init to collect them."""
    pids = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid and not _zombie(entry.path):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _zombie(proc_dir: str) -> bool:
    with open(os.path.join(proc_dir, "stat"), "rb") as f:
        return f.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")


if __name__ == "__main__":
    boot(json.loads(sys.argv[1]))
