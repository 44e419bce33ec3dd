"""Read and compose many manifest files on several cores (DESIGN section 3: loading).

libyaml holds the GIL while it parses, so threads do not help: the files are parsed by forked
worker processes. Each takes batches of files from a shared task pipe (so a slow worker takes
fewer) and sends every file's `read_source` result back through its own pipe as `marshal` data
(plain dicts, lists and tuples: about twice as fast to send as pickle). The results are exactly
what `read_source` gives in this process; the main process turns them into `SourceFile` objects
and checks them in order while the workers go on parsing.

Bounded and cleaned up: `Prefetch.close` kills and reaps every worker (`Loader.load_tree` calls
it in a `finally`, so an error or Ctrl-C in the main process ends them at once); a worker whose
main process died stops at its next write (the pipe is broken). A worker that ends before it has
sent all its results is a FLOE-E102 diagnostic on the file it was reading, and the main process
parses the rest of that worker's files itself; a worker that stops sending for
`NO_PROGRESS_S` is killed, its files parsed in the main process, and a warning logged.

Forking is only used on Linux, with at least two usable cores that other work leaves some room on,
from a process that runs one thread (a fork from a threaded process, such as the console, could
copy a lock another thread holds; the console keeps parsing in its own process).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import marshal
import os
import selectors
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from floe_tui.governance.source import RawSource, read_source

__all__ = ["MIN_BYTES", "NO_PROGRESS_S", "Prefetch", "can_fork", "usable_workers"]

_log = logging.getLogger(__name__)

#: Less YAML than this to read is parsed in the calling process: starting the workers and sending
#: the results back costs more than the other cores save. Measured on 2 cores with the generated
#: tree of bench/governance_validate.py (1.7 KiB a product): the workers pay from about 260-320
#: files (0.4-0.5 MiB, 13,000-16,000 transforms) while other work keeps the machine half busy;
#: forking two workers and getting a first result costs about 7 ms, so an idle machine gains from
#: fewer files. (`Loader` does not even import this module for fewer than 32 files.)
MIN_BYTES = 512 << 10
#: At most this many workers, whatever the number of cores.
MAX_WORKERS = 8
#: With more runnable tasks than this many per core (the 1-minute load average), other work already
#: keeps every core busy and the workers only add their overhead (measured 20-30% slower at a load
#: of 4.5-6 on 2 cores; still 40% faster at 2.5): parse in the calling process.
BUSY_LOAD = 2.0
#: Files per task, at most: at least 4 tasks a worker, so that they end together; more where the
#: tasks would not fit in the task pipe (written once, before the workers start).
BATCH_FILES = 16
_MAX_TASKS = 8192  # 4 bytes each: 32 KiB, within the 64 KiB a pipe holds
#: A worker that sends nothing for this long is taken for stuck.
NO_PROGRESS_S = 60.0
_HEADER = 4  # the length of every frame, little-endian
_READ_SIZE = 1 << 18
_PIPE_SIZE = 1 << 20  # Linux's limit for an unprivileged process (a pipe holds 64 KiB by default)


def can_fork() -> bool:
    """Whether this platform gets workers at all (Linux: fork is cheap and safe to use here)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def usable_workers() -> int:
    """How many parse workers this process may fork now: 0 where it should parse alone."""
    if not can_fork():
        return 0
    if threading.active_count() > 1 or _os_threads() != 1:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except OSError:  # pragma: no cover - Linux always answers
        return 0
    if cores < 2 or os.getloadavg()[0] >= BUSY_LOAD * cores:
        return 0
    return min(cores, MAX_WORKERS)


def _os_threads() -> int:
    """Threads of this process, also those started outside Python (engine drivers)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # pragma: no cover - no /proc: trust Python's count
        return 1


class _Worker:
    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.buffer = bytearray()
        #: The batch it is working on, and how many of its files it has sent (in order: the next
        #: one is the file it is reading).
        self.batch: int | None = None
        self.sent = 0
        self.alive = True


class Prefetch:
    """`read_source` of `paths`, computed by `workers` forked processes; `take` them in any order."""

    def __init__(self, paths: Sequence[Path], workers: int) -> None:
        self._paths = list(paths)
        self._index = {path: i for i, path in enumerate(self._paths)}
        self._results: dict[int, RawSource | None] = {}
        workers = max(1, workers)
        self._batch = max(
            1, min(BATCH_FILES, len(self._paths) // (4 * workers)), -(-len(self._paths) // _MAX_TASKS)
        )
        batches = -(-len(self._paths) // self._batch)
        self._workers: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        # The tasks are written before any worker starts and the writing end is closed at once, so
        # a read of the task pipe never blocks: it takes a task, or finds the pipe empty for good.
        self._tasks, task_write = os.pipe()
        try:
            os.write(task_write, b"".join(k.to_bytes(4, "little") for k in range(batches)))
            os.close(task_write)
            task_write = -1
            for _ in range(workers):
                try:
                    self._start(self._tasks)
                except OSError:  # no more processes or memory: go on with those that started
                    if not self._workers:
                        raise
                    break
        except BaseException:
            if task_write >= 0:
                os.close(task_write)
            self.close()
            raise

    def _start(self, task_read: int) -> None:
        result_read, result_write = os.pipe()
        with contextlib.suppress(OSError):  # room for many results while this process checks others
            fcntl.fcntl(result_write, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        try:
            pid = os.fork()
        except OSError:
            os.close(result_read)
            os.close(result_write)
            raise
        if pid == 0:  # the worker: never returns
            try:
                os.close(result_read)
                for worker in self._workers:
                    os.close(worker.fd)
                _serve(task_read, result_write, self._paths, self._batch)
            finally:
                os._exit(1)
        os.close(result_write)
        worker = _Worker(pid, result_read)
        self._workers.append(worker)
        self._selector.register(result_read, selectors.EVENT_READ, worker)

    def __contains__(self, path: Path) -> bool:
        return path in self._index

    def take(self, path: Path) -> RawSource | None:
        """`read_source(path)`, as a worker (or this process) computed it; None: read it in this
        process (the worker gave up on it, or stopped before it got there).

        While the result is not there, this process takes the next task itself rather than wait:
        on a machine whose other work keeps the workers from running, it does not sit idle."""
        index = self._index.pop(path)
        while index not in self._results:
            if not any(w.alive for w in self._workers):
                return None
            if not self._pump(0) and not self._steal():
                self._pump(NO_PROGRESS_S)  # nothing came and no task is left: wait
        return self._results.pop(index)

    def _steal(self) -> bool:
        """Parse the next task's files here; False when no task is left."""
        task = os.read(self._tasks, 4) if self._tasks >= 0 else b""
        if len(task) < 4:
            return False
        number = int.from_bytes(task, "little")
        for index in range(number * self._batch, min((number + 1) * self._batch, len(self._paths))):
            self._results[index] = read_source(self._paths[index])
        return True

    def _pump(self, timeout: float) -> bool:
        """Read what the workers sent within `timeout`; whether anything came."""
        events = self._selector.select(timeout)
        if not events and timeout == 0:
            return False
        if not events:
            stuck = [w for w in self._workers if w.alive]
            _log.warning(
                "YAML parse worker(s) %s sent nothing for %.0f s: stopped; their files are parsed here",
                ", ".join(str(w.pid) for w in stuck),
                NO_PROGRESS_S,
            )
            for worker in stuck:
                self._end(worker, kill=True)
            return True
        for key, _ in events:
            worker = key.data
            chunk = os.read(worker.fd, _READ_SIZE)
            if not chunk:
                self._end(worker, kill=False)
                continue
            worker.buffer += chunk
            self._frames(worker)
        return True

    def _frames(self, worker: _Worker) -> None:
        buffer, offset, size = worker.buffer, 0, len(worker.buffer)
        view = memoryview(buffer)
        try:
            while size - offset >= _HEADER:
                length = int.from_bytes(view[offset : offset + _HEADER], "little")
                end = offset + _HEADER + length
                if end > size:
                    break
                message = marshal.loads(view[offset + _HEADER : end])
                offset = end
                if isinstance(message, int):  # the worker starts this batch
                    worker.batch, worker.sent = message, 0
                else:
                    index, raw = message
                    self._results[index] = raw
                    worker.sent += 1
        finally:
            view.release()
        del buffer[:offset]

    def _end(self, worker: _Worker, *, kill: bool) -> None:
        """The worker's pipe is closed (or it is stuck): reap it; if it ended before finishing its
        batch, the file it was reading gets a diagnostic (unless it was killed here as stuck) and
        the rest of the batch goes back to this process."""
        self._selector.unregister(worker.fd)
        os.close(worker.fd)
        worker.alive = False
        if kill:
            _kill(worker.pid)
        status = _reap(worker.pid)
        if worker.batch is None:
            return
        first = worker.batch * self._batch
        unfinished = list(range(first + worker.sent, min(first + self._batch, len(self._paths))))
        if not unfinished:
            return
        if not kill:
            reason = _describe(status)
            path = self._paths[unfinished[0]]
            _log.warning("YAML parse worker %d %s while reading %s", worker.pid, reason, path)
            self._results[unfinished.pop(0)] = (
                False,
                "FLOE-E102",
                f"the YAML parser process {reason} while reading this file",
                "run the check again; if it ends the same way, this file is what ends the parser",
                (1, 1),
            )
        for index in unfinished:
            self._results[index] = None

    def close(self) -> None:
        """End every worker that is still running (at once: SIGKILL) and reap it."""
        for worker in self._workers:
            if worker.alive:
                worker.alive = False
                self._selector.unregister(worker.fd)
                os.close(worker.fd)
                _kill(worker.pid)
                _reap(worker.pid)
        self._selector.close()
        if self._tasks >= 0:
            os.close(self._tasks)
            self._tasks = -1


def _serve(task_read: int, result_write: int, paths: list[Path], batch: int) -> None:
    """A worker's life: parse the batches it takes, send every result, exit (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
        gc.disable()  # the worker keeps nothing: a collection would only rescan what it sends
        while True:
            task = os.read(task_read, 4)
            if len(task) < 4:
                break
            number = int.from_bytes(task, "little")
            _send(result_write, marshal.dumps(number))
            for index in range(number * batch, min((number + 1) * batch, len(paths))):
                try:
                    message = marshal.dumps((index, read_source(paths[index])))
                except Exception:  # anything unexpected: the main process reads this file itself
                    message = marshal.dumps((index, None))
                _send(result_write, message)
        code = 0
    finally:
        os._exit(code)


def _send(fd: int, payload: bytes) -> None:
    data = memoryview(len(payload).to_bytes(_HEADER, "little") + payload)
    while data:
        data = data[os.write(fd, data) :]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # pragma: no cover - reaped elsewhere
        return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:  # pragma: no cover - a signal Python does not name
            name = str(number)
        return f"was ended by signal {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
