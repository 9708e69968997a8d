"""A throwaway PostgreSQL server from the distribution's server binaries.

It runs as a non-root user (PostgreSQL refuses root), with its data, socket and log in one
temporary directory, on a loopback port. `.ci/run` installs Debian's `postgresql` for it.
"""

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from housing_assets.processes import free_port, stop_group, wait_for


def postgres_bin_dir() -> Path | None:
    """`HOUSING_PG_BIN`, else the newest /usr/lib/postgresql/<v>/bin, else initdb on PATH."""
    candidates = [Path(os.environ["HOUSING_PG_BIN"])] if os.environ.get("HOUSING_PG_BIN") else []
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    for candidate in candidates:
        if all((candidate / name).exists() for name in ("initdb", "postgres")):
            return candidate
    return None


def server_user() -> pwd.struct_passwd:
    """The account PostgreSQL runs as: it refuses root, so root uses `postgres` (made if absent)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
        return pwd.getpwnam("postgres")


class Postgres:
    """A throwaway PostgreSQL cluster: data, socket and log in one temporary directory."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="housing-pg-"))
        os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data = self.root / "data"
        self.port = free_port()
        self.superuser_password = secrets.token_urlsafe(16)
        self.process: subprocess.Popen | None = None

    def initialise(self) -> None:
        """initdb as the server user; the superuser's password goes through a file, not argv."""
        password_file = self.root / "superuser-password"
        password_file.write_text(self.superuser_password)
        os.chown(password_file, self.user.pw_uid, self.user.pw_gid)
        done = self._as_server_user(
            [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--no-locale",
             "-E", "UTF8", "--auth=scram-sha-256", f"--pwfile={password_file}"],
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        password_file.unlink()

    def _as_server_user(self, command: list[str], **kwargs):
        runner = subprocess.Popen if kwargs.pop("background", False) else subprocess.run
        extra = {}
        if os.geteuid() == 0:
            extra = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        if runner is subprocess.run:
            kwargs.setdefault("capture_output", True)
            kwargs.setdefault("text", True)
        return runner(
            command,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            **extra,
            **kwargs,
        )

    def start(self) -> None:
        log = open(self.root / "postgres.log", "a")  # noqa: SIM115 - the server keeps writing it
        self.process = self._as_server_user(
            [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1"],
            background=True, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for(self.accepts_connections, 60, "PostgreSQL to accept connections", interval=0.5)

    def accepts_connections(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        try:
            self.query("postgres", "select 1")
        except Exception:  # noqa: BLE001 - not up yet
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown (SIGINT), as `pg_ctl stop -m fast`; SIGKILL if it hangs."""
        if self.process is not None:
            stop_group(self.process, signal.SIGINT, grace=30)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def connect(self, database: str, user: str = "postgres", password: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=database,
            user=user,
            password=password or self.superuser_password,
            connect_timeout=5,
        )

    def query(self, database: str, sql: str, params: tuple = ()) -> list[tuple]:
        connection = self.connect(database)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def create_database(self, name: str) -> str:
        """A role and a database of the same name; returns the role's (random) password."""
        password = secrets.token_urlsafe(16)
        self.query("postgres", f"create role {name} login password %s", (password,))
        self.query("postgres", f"create database {name} owner {name}")
        return password

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
