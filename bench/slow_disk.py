"""A slow disk for one process: a shared object, built here with the machine's C compiler,
that makes ``fsync``, ``fdatasync`` and ``sync_file_range`` sleep before doing their work.

A server started with ``LD_PRELOAD`` naming it waits ``BENCH_FSYNC_DELAY_MS`` milliseconds
(20 unless set) more for every flush to the disk, as it would on a busy volume or a network
disk: SQLite's commit (``synchronous=FULL``) and its checkpoints wait that long. Only that
process is slowed; the load generator runs without it. The real call is found with
``dlsym(RTLD_NEXT, …)`` and made after the pause, so the data still reaches the disk.

Without a C compiler (or where the shim does not slow SQLite's commit) the scenario is
skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

DELAY_ENV = "BENCH_FSYNC_DELAY_MS"
DEFAULT_DELAY_MS = 20.0

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static struct timespec delay;

__attribute__((constructor)) static void setup(void) {
    const char *value = getenv("BENCH_FSYNC_DELAY_MS");
    long ns = (long)((value ? atof(value) : 20.0) * 1e6);
    delay.tv_sec = ns / 1000000000L;
    delay.tv_nsec = ns % 1000000000L;
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_sync_file_range =
        (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
}

static void wait_for_the_disk(void) {
    int saved = errno;
    struct timespec left = delay;
    while (nanosleep(&left, &left) == -1 && errno == EINTR) {
    }
    errno = saved;
}

int fsync(int fd) {
    wait_for_the_disk();
    return real_fsync(fd);
}

int fdatasync(int fd) {
    wait_for_the_disk();
    return real_fdatasync(fd);
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
    wait_for_the_disk();
    return real_sync_file_range(fd, offset, nbytes, flags);
}
"""

# Commits to a scratch SQLite file as QTable's engine sets it up (WAL, synchronous=FULL) and
# prints each one's milliseconds.
PROBE = """
import os, sqlite3, sys, tempfile, time
with tempfile.TemporaryDirectory() as directory:
    db = sqlite3.connect(os.path.join(directory, "probe.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE probe (x)")
    for _ in range(int(sys.argv[1])):
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO probe VALUES (1)")
        db.execute("COMMIT")
        print((time.perf_counter() - started) * 1000)
    db.close()
"""


class Unavailable(RuntimeError):
    """No slow disk on this machine: why."""


def compiler() -> str | None:
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None


def build(directory: Path) -> Path:
    """Compile the shim into ``directory``; its path."""
    cc = compiler()
    if cc is None:
        raise Unavailable("no C compiler (cc, gcc or clang) on the PATH")
    source = directory / "slow_fsync.c"
    shim = directory / "slow_fsync.so"
    source.write_text(SOURCE)
    command = [cc, "-shared", "-fPIC", "-O2", "-o", str(shim), str(source), "-ldl"]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        raise Unavailable(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    return shim


def environment(shim: Path, delay_ms: float) -> dict[str, str]:
    """What a process is started with to run on the slow disk."""
    preload = f"{shim} {os.environ.get('LD_PRELOAD', '')}".strip()
    return {"LD_PRELOAD": preload, DELAY_ENV: f"{delay_ms:g}"}


def commit_ms(env: dict[str, str], commits: int = 5) -> float:
    """The median time of a SQLite commit (WAL, synchronous=FULL) in a process started with
    ``env``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(commits)],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise Unavailable(f"the commit probe failed: {done.stderr.decode()[-500:]}")
    return statistics.median(float(line) for line in done.stdout.split())


def check(shim: Path, delay_ms: float) -> float:
    """A SQLite commit's median time with the shim; Unavailable unless the delay shows."""
    measured = commit_ms(environment(shim, delay_ms))
    if measured < 0.8 * delay_ms:
        raise Unavailable(
            f"with the shim a SQLite commit took {measured:.1f} ms, not the {delay_ms:g} ms "
            "its fsync should wait: SQLite does not flush through the C library here"
        )
    return measured
