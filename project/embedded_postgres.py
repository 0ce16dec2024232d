"""The embedded PostgreSQL server used when no DATABASE_URL is set.

It comes from the `pgserver` wheel, keeps its data in a project-local folder and
listens on a unix socket only. It is started on first use by whichever process
needs it and keeps running until `stop()` (`make stop`), because pgserver's own
"stop with the last client" rule misfires when a client is killed.

    python -m project.embedded_postgres start|stop|status|url
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PGDATA = Path(os.environ.get("BOXOFFICE_PGDATA", BASE_DIR / ".pgdata"))
DATABASE_NAME = "boxoffice"


def _server():  # noqa: ANN202 - pgserver ships no public type for the handle
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(PGDATA, cleanup_mode=None)


def ensure_running() -> str:
    """Start the server if needed; return the owner's URL for the project database."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = _server()
    info = server.get_postmaster_info()
    # The socket folder moves under /tmp/runtime-*/ when PGDATA's path is long: ask the server.
    return f"postgresql://postgres@/{DATABASE_NAME}?host={info.socket_dir}"


def is_running() -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import PostmasterInfo

    if not PGDATA.exists():
        return False
    info = PostmasterInfo.read_from_pgdata(PGDATA)
    return info is not None and info.is_running()


def stop() -> bool:
    """Stop the server if it runs; True when it was running."""
    if not is_running():
        return False
    result = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [_pg_ctl(), "stop", "-w", "-m", "fast", "-D", str(PGDATA)],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_as_server_user(),
    )
    print(result.stdout, end="")
    # pg_ctl also fails when the server stopped between our look and its own.
    if result.returncode != 0 and is_running():
        raise RuntimeError(f"pg_ctl stop failed: {result.stdout}{result.stderr}")
    return True


def _as_server_user():  # noqa: ANN202
    """pgserver runs the server as the `pgserver` system user when started by root."""
    if os.geteuid() != 0:
        return None
    import pwd

    account = pwd.getpwnam("pgserver")

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return demote


def _pg_ctl() -> str:
    return client_binary("pg_ctl")


def client_binary(name: str) -> str:
    """A PostgreSQL program (pg_dump, pg_restore, ...) from the pgserver wheel: version
    16, which reads older servers too. `BOXOFFICE_PG_BIN` names another folder."""
    folder = os.environ.get("BOXOFFICE_PG_BIN")
    if folder:
        return str(Path(folder) / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else "status"
    if action == "start" or action == "url":
        print(ensure_running())
    elif action == "stop":
        print("stopped embedded PostgreSQL" if stop() else "embedded PostgreSQL is not running")
    elif action == "status":
        print("running" if is_running() else "stopped")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
