"""A throwaway PostgreSQL server on this machine, for tests, benchmarks and trials.

Why: a shared project needs a real server, and the tests must start (and stop) the one they
use. The server binaries come from the operating system's packages (Debian:
``postgresql-15``, in ``/usr/lib/postgresql/15/bin``); ``make test`` installs them with apt
when they are missing. ``initdb`` refuses to run as root, so under root the server runs as
the ``postgres`` system user the package creates. The server listens on 127.0.0.1 only, on
a free port, with its Unix socket in its own folder, password authentication (SCRAM) over
TCP, and ``fsync`` on: a server killed at a random moment keeps every committed transaction.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: The superuser of a throwaway server (owner of the projects the tests create).
SUPERUSER = "studio"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as)."""


def find_bin_dir() -> Path:
    """The newest installed PostgreSQL server's ``bin`` folder (``DPSTUDIO_PG_BIN`` wins).

    Raises:
        ServerUnavailable: no ``initdb`` found.
    """
    override = os.environ.get("DPSTUDIO_PG_BIN")
    found = [override] if override else []
    found += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for folder in found:
        if (Path(folder) / "initdb").is_file():
            return Path(folder)
    raise ServerUnavailable(
        "no PostgreSQL server binaries (initdb) found; install them with "
        "'apt-get install postgresql-15' (make test does) or set DPSTUDIO_PG_BIN"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """A PostgreSQL cluster in a temporary folder, started and stopped by its owner.

    Attributes:
        root: the folder holding the data directory, the socket and the log.
        port: the TCP port on 127.0.0.1.
        password: the superuser's password.
        bin_dir: the server binaries used.
    """

    root: Path
    port: int
    password: str
    bin_dir: Path

    @classmethod
    def create(cls, bin_dir: Path | None = None) -> LocalServer:
        """Make a new cluster (``initdb``) in a fresh temporary folder; not started yet."""
        bin_dir = bin_dir or find_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="dpstudio-pg-"))
        server = cls(root, free_port(), secrets.token_hex(12), bin_dir)
        server._chown(root)
        pwfile = root / "pw"
        pwfile.write_text(server.password + "\n")
        server._chown(pwfile)
        server._run(
            "initdb", "-D", str(server.data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        return server

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str = "") -> str:
        """A ``postgresql://`` URL of a database on this server (TCP, loopback)."""
        secret = password or (self.password if user == SUPERUSER else "")
        auth = f"{user}:{secret}@" if secret else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=120 -c shared_buffers=64MB -c fsync=on"
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(self.log_file),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: ``fast``, or ``immediate`` to simulate a crash)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """Kill the server's processes with SIGKILL, as a crash would (no shutdown at all).

        The dead postmaster's lock files are removed: on a machine whose init does not reap
        orphans, its zombie would otherwise look alive to the next start.
        """
        pid_file = self.data_dir / "postmaster.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pid_file.read_text().split()[0])
            processes = [pid, *_children(pid)]  # before they are re-parented
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, 9)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_alive(p) for p in processes):
                time.sleep(0.02)
            pid_file.unlink()
            for lock in self.root.glob(".s.PGSQL.*"):
                lock.unlink()

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _unprivileged_user(), "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, f"{done.stderr}\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text()[-2000:]
        return ""

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(_unprivileged_user())
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _unprivileged_user() -> str:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable(
            "running as root, and no 'postgres' system user to run the server as "
            "(the postgresql package creates it)"
        ) from None
    return "postgres"


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out
