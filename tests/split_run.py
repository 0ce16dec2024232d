"""`make test`, second pass: the end-to-end tests again with `orders` moved out.

A second PostgreSQL server (the embedded one, in `.pgdata-orders/`) hosts the
`orders` module; `ORDERS_DATABASE_URL` points the `orders` alias at it, as an
operator would (docs/splitting-out.md), and the tests give `orders` a worker of
its own that serves only the `orders` queue. No code changes between the passes.

    .venv/bin/python tests/split_run.py [pytest arguments]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import embedded

ROOT = Path(__file__).resolve().parent.parent
SECOND_SERVER = ROOT / ".pgdata-orders"


def main() -> int:
    embedded("start", SECOND_SERVER)
    owner_url = embedded("url", SECOND_SERVER)
    # The module logs in as its own role there; provisioning uses the server's owner.
    orders_url = owner_url.replace("postgresql://postgres@", "postgresql://orders_role@", 1)
    env = dict(
        os.environ,
        ORDERS_DATABASE_URL=orders_url,
        ORDERS_DATABASE_OWNER_URL=owner_url,
        BOXOFFICE_EXPECT_MOVED="orders",  # checked by a test: the pass really is split
    )
    print(f"second pass: orders on {orders_url}", flush=True)
    try:
        command = [sys.executable, "-m", "pytest", "-m", "e2e", "-p", "no:cacheprovider"]
        return subprocess.run([*command, *sys.argv[1:]], cwd=ROOT, env=env).returncode
    finally:
        embedded("stop", SECOND_SERVER)


if __name__ == "__main__":
    sys.exit(main())
