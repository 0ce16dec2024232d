"""Helpers for tests of any module: run the bus synchronously, or wait for it.

drain()                      # relay and deliver in this thread until quiet
wait_for("orders.OrderApproved", lambda e: e.aggregate_id == order_id)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from apps.events.public.envelope import Envelope
from apps.events.selectors import store_find
from apps.events.services import outboxes_relay_all, subscribers_deliver_all


def drain(*, max_rounds: int = 100) -> int:
    """Relay every outbox and deliver to every subscriber until nothing moves.

    Returns the number of messages relayed. Works inside a test's transaction:
    everything runs on this thread's connections.
    """
    relayed = 0
    for _ in range(max_rounds):
        moved = outboxes_relay_all()
        reports = subscribers_deliver_all()
        relayed += moved
        if moved == 0 and not any(r.handled or r.parked for r in reports):
            return relayed
    raise RuntimeError(f"the bus did not settle in {max_rounds} rounds")


def wait_for(
    message_type: str,
    predicate: Callable[[Envelope], bool] = lambda _envelope: True,
    *,
    timeout: float = 15.0,
    interval: float = 0.1,
) -> Envelope:
    """Poll the store until a message of `message_type` matching `predicate` is there."""
    deadline = time.monotonic() + timeout
    while True:
        for envelope in store_find(message_type=message_type):
            if predicate(envelope):
                return envelope
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {message_type} matching the predicate within {timeout}s")
        time.sleep(interval)
