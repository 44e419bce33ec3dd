"""floe_tui.testing.servers: start, break and stop a real server process (Python's http.server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from floe_tui.testing import ServerError, ServerProcess, free_port, run_beside, wait_for

HTTP_SERVER = [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"]


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        status: int = response.status
        return status


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_start_answers_and_stop_frees_the_port() -> None:
    server = ServerProcess(HTTP_SERVER, name="http", http_path="/", startup_timeout_s=30)
    with server:
        assert server.running
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert _get(server.base_url + "/") == 200
        pid = server.pid
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not _connects(server.port)


def test_kill_pause_resume_and_restart_on_the_same_port() -> None:
    server = ServerProcess(lambda port: [*HTTP_SERVER[:3], str(port), "--bind", "127.0.0.1"], name="http")
    with server:
        port = server.port
        server.pause()
        assert server.paused
        with pytest.raises(OSError):  # the kernel still accepts, but nothing answers
            _get(server.base_url + "/", timeout=0.5)
        server.resume()
        assert _get(server.base_url + "/") == 200
        server.kill()
        assert not server.running
        assert server.returncode == -9
        wait_for(lambda: not _connects(port), 5, "port closed after the kill")
        server.restart()
        assert server.port == port
        assert _get(server.base_url + "/") == 200


def test_stop_of_a_paused_server_still_ends_it() -> None:
    server = ServerProcess(HTTP_SERVER, name="http", stop_timeout_s=2)
    server.start()
    server.pause()
    server.stop()
    assert not server.running
    server.stop()  # idempotent
    server.close()


def test_a_server_that_exits_at_once_is_reported_with_its_output() -> None:
    script = "import sys; print('no such flag -z', flush=True); sys.exit(2)"
    server = ServerProcess([sys.executable, "-c", script], name="broken", start_attempts=2)
    with pytest.raises(ServerError, match=r"exited with code 2 before it answered.*\n.*no such flag -z"):
        server.start()
    assert not server.running
    server.close()


def test_a_server_that_never_answers_fails_by_its_deadline() -> None:
    server = ServerProcess(
        [sys.executable, "-c", "import time; time.sleep(60)"], name="silent", startup_timeout_s=0.5
    )
    with pytest.raises(ServerError, match=r"did not answer on port \d+ within 0.5 s"):
        server.start()
    assert not server.running  # killed, not left behind
    server.close()


def test_a_fixed_port_that_is_taken_is_not_silently_replaced() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = ServerProcess(HTTP_SERVER, name="http", port=port, startup_timeout_s=10)
        with pytest.raises(ServerError, match=f"port {port} on 127.0.0.1 is in use"):
            server.start()
        assert server.port == port
        server.close()


@pytest.mark.parametrize("host", ["10.0.0.1", "example.com", "0.0.0.0"])
def test_only_loopback_hosts(host: str) -> None:
    with pytest.raises(ServerError, match="loopback"):
        ServerProcess(HTTP_SERVER, host=host)
    with pytest.raises(ServerError, match="loopback"):
        free_port(host)


def test_wait_for_has_a_deadline() -> None:
    with pytest.raises(TimeoutError, match=r"never: not within 0\.1 s"):
        wait_for(lambda: False, 0.1, "never")


def test_run_beside_runs_the_command_then_stops_the_server() -> None:
    server = ServerProcess(HTTP_SERVER, name="http")
    seen: list[int] = []
    probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5); sys.exit(7)"

    def seed(ready: ServerProcess) -> None:
        seen.append(ready.pid)
        command.append(ready.base_url + "/")  # the command learns the port once it is known

    command = [sys.executable, "-c", probe]
    assert run_beside(server, command, on_ready=seed) == 7
    assert seen and not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(seen[0], 0)


def test_run_beside_reports_a_failed_seed_and_still_stops_the_server() -> None:
    server = ServerProcess(HTTP_SERVER, name="http")

    def seed(ready: ServerProcess) -> None:
        raise ServerError("no sample data")

    assert run_beside(server, [sys.executable, "-c", "pass"], on_ready=seed) == 2
    assert not server.running


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
def test_demo_main_serves_until_sigterm_or_its_terminal_closes(tmp_path: Path, stop: signal.Signals) -> None:
    """SIGHUP is what a launcher gets when its terminal closes (a window shut, `tmux kill-server`):
    its server must stop then too, or it keeps the demo's port and the next `make demo` fails."""
    script = tmp_path / "demo.py"
    script.write_text(
        "import sys\n"
        "from floe_tui.testing.servers import ServerProcess, demo_main\n"
        f"ARGV = {HTTP_SERVER!r}\n"
        "sys.exit(demo_main(sys.argv[1:], default_port=0,\n"
        "    make_server=lambda port: ServerProcess(ARGV, name='http', port=port or None)))\n"
    )
    launcher = subprocess.Popen(
        [sys.executable, str(script), "--no-seed"], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert launcher.stderr is not None
        banner = launcher.stderr.readline()  # "http on http://127.0.0.1:PORT, pid PID"
        pid = int(banner.rsplit("pid ", 1)[1])
        launcher.send_signal(stop)
        assert launcher.wait(10) == 128 + stop
    finally:
        if launcher.poll() is None:
            launcher.kill()
    wait_for(lambda: not _alive(pid), 5, "the demo's server stopped")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
