"""Start, stop and break local test servers (fakesnow, a BigQuery emulator, ...) on loopback.

A :class:`ServerProcess` runs one server as a child process on a free loopback port, waits until it
answers (a TCP connect, or an HTTP GET of a path, with a deadline: never sleep-and-hope), and stops
it by its own PID. The fault tests use :meth:`ServerProcess.kill`, :meth:`~ServerProcess.pause`
and :meth:`~ServerProcess.resume` to make a server die or hang, and :meth:`~ServerProcess.restart`
to bring it back on the same port::

    server = ServerProcess([".venv-servers/fakesnow/bin/fakesnow", "-s", "-p", "{port}"], name="fakesnow")
    with server:                 # start() and wait until it answers; stop() on exit
        connect(host=server.host, port=server.port)

Nothing here reaches a non-loopback address: the host must be a loopback address, and readiness is
probed on it only. The server's stdout and stderr go to a log file (:attr:`ServerProcess.log_path`),
whose tail is quoted when the server does not come up.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType

__all__ = ["ServerError", "ServerProcess", "demo_main", "free_port", "run_beside", "wait_for"]

#: Builds the server's argv from its port; or a list whose items may hold ``{port}`` and ``{host}``.
Command = Sequence[str] | Callable[[int], Sequence[str]]


class ServerError(RuntimeError):
    """A test server did not start, did not answer in time, or is not in the state asked for."""


class _ExitedEarly(ServerError):
    """The server process ended before it answered (a port taken, a bad command line)."""


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ServerError(f"test servers listen on a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ServerError(f"test servers listen on a loopback address, not {host!r}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's choice; a race with another binder is possible)."""
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.02) -> None:
    """Poll `condition` until it is true; :class:`TimeoutError` naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(interval_s)  # polling interval of a condition with a deadline, not a guess


class ServerProcess:
    """One test server process on a loopback port; see the module docstring."""

    def __init__(
        self,
        command: Command,
        *,
        name: str = "server",
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        cwd: str | os.PathLike[str] | None = None,
        http_path: str | None = None,
        http_status: Callable[[int], bool] | None = None,
        startup_timeout_s: float = 60.0,
        stop_timeout_s: float = 5.0,
        stop_signal: int = signal.SIGTERM,
        start_attempts: int = 3,
    ) -> None:
        """Describe the server; nothing starts before :meth:`start`.

        `port` None picks a free port at the first start (and another one if the server could not
        bind it, up to `start_attempts` times); a restart keeps the port. `env` is added to this
        process's environment (or replaces it when `inherit_env` is False). With `http_path` the
        server is ready when a GET of that path gets an HTTP answer whose status `http_status`
        accepts (default: any status below 500); without it, when a TCP connect succeeds.
        """
        _check_loopback(host)
        if http_path is not None and not http_path.startswith("/"):
            raise ServerError(f"http_path must start with '/': {http_path!r}")
        self.name = name
        self.host = host
        self._command = command
        self._fixed_port = port
        self._port = port
        self._env = dict(env or {})
        self._inherit_env = inherit_env
        self._cwd = cwd
        self._http_path = http_path
        self._http_status = http_status or (lambda status: status < 500)
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._stop_signal = stop_signal
        self._start_attempts = max(1, start_attempts)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix=f"floe-{name}-"))
        self.log_path = self._log_dir / f"{name}.log"
        self._paused = False

    # -- what the tests read -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError(f"{self.name} has no port before start()")
        return self._port

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServerError(f"{self.name} is not started")
        return self._process.pid

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """The process exists and has not exited (a paused one is running)."""
        return self._process is not None and self._process.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused and self.running

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines the server wrote to stdout and stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> ServerProcess:
        """Start the server and wait until it answers; :class:`ServerError` (with its log) if not."""
        if self.running:
            raise ServerError(f"{self.name} is already running (pid {self.pid})")
        # A port of our choosing may be taken between free_port() and the server's bind: try another.
        attempts = self._start_attempts if self._port is None else 1
        for attempt in range(attempts):
            if self._port is None or attempt > 0:
                self._port = free_port(self.host)
            elif not self._port_free():  # else the readiness probe would reach the other listener
                raise ServerError(f"{self.name}: port {self._port} on {self.host} is in use")
            self._spawn()
            try:
                self._wait_ready()
                return self
            except _ExitedEarly:
                self._reap()
                if attempt == attempts - 1:
                    raise
            except ServerError:
                self._reap()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server by its PID: `stop_signal`, then SIGKILL after `stop_timeout_s`. Idempotent."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            if self._paused:  # a stopped process acts on SIGTERM only once continued
                self._signal(signal.SIGCONT)
            self._signal(self._stop_signal)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                process.wait(self.stop_timeout_s)
        self._paused = False
        self._process = None

    def kill(self) -> None:
        """SIGKILL the server (a crash) and reap it."""
        process = self._process
        if process is None or process.poll() is not None:
            raise ServerError(f"{self.name} is not running")
        self._signal(signal.SIGKILL)
        process.wait(self.stop_timeout_s)
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing (a hung server)."""
        if not self.running:
            raise ServerError(f"{self.name} is not running")
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if not self.running:
            raise ServerError(f"{self.name} is not running")
        self._signal(signal.SIGCONT)
        self._paused = False

    def restart(self) -> ServerProcess:
        """Stop the server if it still runs, then start it again on the same port."""
        self.stop()
        wait_for(self._port_free, self.startup_timeout_s, f"{self.name}: port {self._port} free again")
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its log."""
        self.stop()
        with contextlib.suppress(OSError):
            self.log_path.unlink(missing_ok=True)
            self._log_dir.rmdir()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ServerProcess({self.name!r}, {self.host}:{self._port}, {state})"

    # -- internals -----------------------------------------------------------------------------

    def argv(self) -> list[str]:
        """The command line for the current port."""
        if callable(self._command):
            return [str(arg) for arg in self._command(self.port)]
        return [arg.format(port=self.port, host=self.host) for arg in self._command]

    def _spawn(self) -> None:
        env = {**os.environ, **self._env} if self._inherit_env else dict(self._env)
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.argv()!r}\n".encode())
            log.flush()
            try:
                self._process = subprocess.Popen(
                    self.argv(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self._cwd,
                    start_new_session=True,  # a ctrl-c in the terminal goes to pytest, not here
                )
            except OSError as error:
                raise ServerError(f"{self.name} could not be started: {error}") from error
        self._paused = False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                raise _ExitedEarly(
                    f"{self.name} exited with code {process.returncode} before it answered on port "
                    f"{self._port}; its output ends:\n{self.log_tail()}"
                )
            if self._answers(min(1.0, max(0.05, deadline - time.monotonic()))) and process.poll() is None:
                return
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.name} did not answer on port {self._port} within {self.startup_timeout_s:g} s; "
                    f"its output ends:\n{self.log_tail()}"
                )
            time.sleep(0.02)  # polling interval of a readiness probe with a deadline

    def _answers(self, timeout_s: float) -> bool:
        if self._http_path is None:
            try:
                with socket.create_connection((self.host, self.port), timeout=timeout_s):
                    return True
            except OSError:
                return False
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        try:
            connection.request("GET", self._http_path)
            return self._http_status(connection.getresponse().status)
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def _port_free(self) -> bool:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
            try:
                sock.bind((self.host, self.port))
            except OSError:
                return False
            return True

    def _signal(self, signum: int) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signum)  # its own PID only, never its group or a name

    def _reap(self) -> None:
        """After a failed start: make sure the process is gone."""
        if self._process is not None:
            self._signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(self.stop_timeout_s)
            self._process = None
        self._paused = False


def run_beside(
    server: ServerProcess,
    command: Sequence[str],
    *,
    on_ready: Callable[[ServerProcess], None] | None = None,
    banner: Callable[[ServerProcess], str] | None = None,
) -> int:
    """Start `server`, call `on_ready` (seed it), run `command` in the foreground, then stop the server.

    For demos: ``make demo`` runs the console beside local servers, and launchers chain
    (``a_demo.py -- b_demo.py -- floe-tui ...``). Ctrl-C reaches the command (the server runs in a
    session of its own, so it does not); SIGTERM to this process is passed on to the command, and
    so is SIGHUP (the terminal closed: the server, in its own session, would outlive the launcher
    and keep the port). Without a command it serves until SIGINT, SIGTERM or SIGHUP. Returns the
    command's exit status, 2 when the server did not start or `on_ready` raised
    :class:`ServerError`, 128 + the signal number when a signal ended the wait. The server is
    stopped by its PID in every case.
    """
    signalled: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signalled.append(signum)
        raise KeyboardInterrupt

    previous = {stop: signal.signal(stop, on_signal) for stop in (signal.SIGTERM, signal.SIGHUP)}
    try:
        server.start()
        if on_ready is not None:
            on_ready(server)
        line = (
            banner(server) if banner is not None else f"{server.name} on {server.base_url}, pid {server.pid}"
        )
        print(line, file=sys.stderr)
        if not command:
            signal.pause()
            return 0
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            child = subprocess.Popen(list(command))
            try:
                return child.wait()
            except KeyboardInterrupt:  # SIGTERM or SIGHUP to this launcher: pass it on
                child.terminate()
                return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous_int)
    except KeyboardInterrupt:
        return 128 + (signalled[0] if signalled else signal.SIGINT)
    except ServerError as exc:
        print(f"error: {server.name}: {exc}", file=sys.stderr)
        return 2
    finally:
        server.close()
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def demo_main(
    argv: Sequence[str] | None,
    *,
    make_server: Callable[[int], ServerProcess],
    default_port: int,
    seed: Callable[[ServerProcess], None] | None = None,
    env_defaults: Mapping[str, str] | None = None,
    description: str | None = None,
    banner: Callable[[ServerProcess], str] | None = None,
) -> int:
    """The command line of a demo launcher: ``[--port N] [--no-seed] [-- COMMAND ...]``.

    `env_defaults` are set (where unset) for the command, e.g. the dummy password a sample's
    credential reference names; then :func:`run_beside` does the rest.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=default_port, help="loopback port (default %(default)s)")
    parser.add_argument("--no-seed", action="store_true", help="start the server empty")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    for name, value in (env_defaults or {}).items():
        os.environ.setdefault(name, value)
    try:
        server = make_server(args.port)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_beside(server, command, on_ready=None if args.no_seed else seed, banner=banner)
