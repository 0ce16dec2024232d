"""The filesystem broker (no CELERY_BROKER_URL: the embedded default), made safe to
share between processes.

kombu's filesystem transport writes a message file in place, and a consumer may
move and read it before the writer has finished (or after the writer was
killed): an empty or cut file, on which the worker dies ("Unrecoverable error:
JSONDecodeError"). Here a message is written under a name no consumer looks at
and renamed into place once complete (rename is atomic), and a file that cannot
be read is logged and skipped rather than fatal (a kick: the sweep makes up for it).
Registered as the `filesystem://` transport by `project.celery`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    # kombu's filesystem Channel names the abstract Channel's `message` `payload`.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # `_get` takes only names ending in .<queue>.msg
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        while True:  # each failed attempt has taken its file away: go on to the next
            try:
                return super()._get(queue)
            except json.JSONDecodeError:
                logger.warning("skipped an unreadable message file on queue %s", queue)


class Transport(filesystem.Transport):
    Channel = Channel
    # With an event loop, Celery runs its asynchronous pool, where each pool process
    # has pipes of its own. Without one, the pool processes share one lock on the
    # task queue, and a process killed while it holds the lock leaves the worker
    # running but taking no task (tests/runtime/test_filesystem_broker.py).
    implements = filesystem.Transport.implements.extend(asynchronous=True)

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        # A folder cannot wake the loop: poll it on every turn of the loop (a pool
        # process finishing a task is one) and at least every polling interval.
        loop.on_tick.add(self._deliver_waiting)
        loop.call_repeatedly(self.polling_interval, self._deliver_waiting)

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        loop.on_tick.discard(self._deliver_waiting)

    def _deliver_waiting(self) -> None:
        # Every message the consumers may take now (their prefetch limit stops it).
        cycle = self.cycle
        assert cycle is not None  # set up by the transport's constructor
        while True:
            try:
                cycle.get(self._deliver)
            except Empty:
                return

    @property
    def default_connection_params(self) -> dict[str, Any]:
        # A folder has no host: without this, kombu warns "No hostname was supplied"
        # each time it copies a connection (a dozen times as `make run` starts).
        return {"port": self.default_port}


def make_folders(options: dict[str, object]) -> None:
    """The folders a filesystem broker's transport options name (it needs them
    before the first message)."""
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        os.makedirs(str(options[key]), exist_ok=True)


def register() -> None:
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
