"""Kicks: the Celery tasks that make the relay and deliveries run, coalesced.

Every commit that publishes kicks the relay, and every relay run kicks the
subscribers of what it moved. Sent as they come, that is several tasks per
message, each paying its bookkeeping for a batch of one. So a kick goes through
a doorbell: at most one task waits per target (one module's outbox, or one
subscriber).

    ring(target)           -- SET kick:<target> <token> NX; only the ring that set
                              it sends a task, which carries the token
    answer(target, token)  -- DEL kick:<target> if it still holds <token>; the
                              task calls it first, before it reads

Why no message is ever left waiting: a commit that rings after the waiting task
answered sets the flag again and sends a new task; a commit whose ring found the
flag set committed before that ring, so before the waiting task answers and
reads. The flag expires after EVENTS_KICK_TTL_SECONDS, so a task the broker lost
holds back kicks for that long at most (the beat sweep runs meanwhile).

Only the task a flag was set for opens the door again. Other runs of the same
target (the sweep's tasks, a delivery relaying its own outbox in place) leave
the flag to the task still waiting for it: were they to clear it, the next ring
would send a second waiting task, and under steady load each such run would add
one more task circling for good.

Pacing: every run also marks its target as just run, for
EVENTS_KICK_PACE_SECONDS. A ring that sends the next task meanwhile sends it
with a countdown until the mark runs out, so that under load a target runs at
most about once per pace, on a batch that grew meanwhile, instead of back to
back on batches of a few messages each paying a task's bookkeeping. An idle
target is run at once. A subscriber may set a slower pace of its own
(`projection(..., pace=...)`), passed by its task to `answer`.

Relay kicks after a commit are rung by a background thread that gathers the
asks of a quarter pace into one ring (`_RelayRinger`).

The flags live in Redis (EVENTS_KICK_REDIS_URL, by default the broker's own when
the broker is Redis). With no Redis there is no doorbell: every kick is sent.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from celery import current_app, signals
from django.conf import settings

logger = logging.getLogger(__name__)
RELAY_TASK = "events.relay"
DELIVER_TASK = "events.deliver"


def relay_target(module: str) -> str:
    return f"relay:{module}"


def deliver_target(subscriber: str) -> str:
    return f"deliver:{subscriber}"


def _redis_url() -> str | None:
    url = getattr(settings, "EVENTS_KICK_REDIS_URL", None)
    if url is None:
        broker = str(getattr(settings, "CELERY_BROKER_URL", ""))
        url = broker if broker.startswith(("redis://", "rediss://")) else ""
    return url or None


@cache
def _client_for(url: str, pid: int):  # noqa: ANN202 - redis is imported lazily
    import redis

    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def _redis():  # noqa: ANN202
    url = _redis_url()
    # Per process: a forked worker child must not share its parent's socket.
    return _client_for(url, os.getpid()) if url else None


def _key(target: str) -> str:
    # Per event store: deployments (and test runs) sharing one Redis stay apart.
    store = settings.DATABASES.get("events", {}).get("NAME", "")
    return f"boxoffice:kick:{store}:{target}"


def _send(
    task: str,
    *,
    queue: str,
    args: tuple = (),
    kwargs: dict[str, str] | None = None,
    countdown: float | None = None,
    expires: float | None = None,
) -> bool:
    try:
        current_app.send_task(
            task,
            args=args,
            kwargs=kwargs,
            queue=queue,
            countdown=countdown,
            expires=expires,
            retry=False,
        )
    except Exception as exc:  # noqa: BLE001 - the broker is down: the beat sweep catches up
        logger.warning("could not send %s (%s); the periodic sweep will catch up", task, exc)
        return False
    return True


def _ring(
    target: str, task: str, *, queue: str, args: tuple = (), at_least: float | None = None
) -> bool:
    rung = _ring_many([_Ring(target, task, queue, args, at_least)])[0]
    return rung.waiting or rung.sent


@dataclass(frozen=True)
class _Ring:
    target: str
    task: str
    queue: str
    args: tuple = ()
    at_least: float | None = None


def _send_unrung(ring: _Ring, token: str | None = None) -> bool:
    """No doorbell (no Redis, or Redis down): every kick is sent."""
    return _send(
        ring.task,
        queue=ring.queue,
        args=ring.args,
        kwargs={"doorbell": token} if token else None,
        countdown=ring.at_least,
    )


@dataclass(frozen=True)
class _Rung:
    """What one ring found and did."""

    waiting: bool  # known by the doorbell: a task waits now (found waiting, or sent)
    sent: bool = False  # sent by this ring (without a doorbell too)
    countdown: float = 0.0  # the task sent starts no sooner than this


def _ring_many(rings: list[_Ring]) -> list[_Rung]:
    """Ring several doorbells with one Redis round trip (the flags and pace
    marks of all of them), then send a task for each flag that was free."""
    client = _redis()
    if client is None:
        return [_Rung(waiting=False, sent=_send_unrung(ring)) for ring in rings]
    tokens = [os.urandom(8).hex() for _ in rings]
    try:
        ttl_ms = int(float(getattr(settings, "EVENTS_KICK_TTL_SECONDS", 5.0)) * 1000)
        with client.pipeline(transaction=False) as pipe:
            for ring, token in zip(rings, tokens, strict=True):
                pipe.set(_key(ring.target), token, nx=True, px=ttl_ms)
                pipe.pttl(_pace_key(ring.target))
            replies = pipe.execute()
    except Exception as exc:  # noqa: BLE001 - no doorbell: send the kicks anyway
        logger.warning("kick doorbell unavailable (%s); sending the kicks", exc)
        # With the tokens: the flags may have been set all the same (the
        # replies were what failed), and only these tasks may clear them.
        return [
            _Rung(waiting=False, sent=_send_unrung(ring, token))
            for ring, token in zip(rings, tokens, strict=True)
        ]
    results: list[_Rung] = []
    for index, (ring, token) in enumerate(zip(rings, tokens, strict=True)):
        first, paced_ms = replies[2 * index], replies[2 * index + 1]
        if not first:  # a task is waiting already, and will see what committed before now
            results.append(_Rung(waiting=True))
            continue
        # The task starts no sooner than the pace mark runs out. -2: no mark,
        # -1: a mark without expiry.
        countdown = paced_ms / 1000 if paced_ms > 0 else 0.0
        if ring.at_least is not None:
            countdown = max(countdown, ring.at_least)
        kwargs = {"doorbell": token}
        if _send(
            ring.task, queue=ring.queue, args=ring.args, kwargs=kwargs, countdown=countdown or None
        ):
            results.append(_Rung(waiting=True, sent=True, countdown=countdown))
        else:
            # No task waits: the next ring must send one. Only our own flag: a
            # slow send may have outlived it, and another ring set a newer one.
            _forget(client, _key(ring.target), token)
            results.append(_Rung(waiting=False))
    return results


def _forget(client, key: str, token: str | None = None) -> None:  # noqa: ANN001
    """Clear a flag: whoever set it, or (with `token`) only if it still holds it."""
    try:
        if token is None:
            client.delete(key)
        else:
            client.eval(_FORGET_OWN, 1, key, token)
    except Exception as exc:  # noqa: BLE001 - the flag expires on its own
        logger.warning("could not clear kick flag %s (%s)", key, exc)


def _pace_key(target: str) -> str:
    return _key(target) + ":ran"


# Clear the flag only if it still holds this token.
_FORGET_OWN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
"""

# Clear the flag only if it is still the one rung for this task; mark the run.
_ANSWER = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
"""


def answer(target: str, doorbell: str | None = None, *, pace: float | None = None) -> None:
    """A run of `target` starts, before it reads. With the token it was sent with
    (`doorbell`), later commits must ring for a new task; any run paces the next,
    by `pace` seconds (default EVENTS_KICK_PACE_SECONDS)."""
    client = _redis()
    if client is None:
        return
    pace_ms = int((_default_pace() if pace is None else _finite(pace)) * 1000)
    try:
        client.eval(_ANSWER, 2, _key(target), _pace_key(target), doorbell or "", pace_ms)
    except Exception as exc:  # noqa: BLE001 - the flag expires on its own
        logger.warning("could not answer kick %s (%s)", target, exc)


def clear(target: str) -> None:
    """Open the door whoever rang (tests, and an operator after a lost task)."""
    client = _redis()
    if client is not None:
        _forget(client, _key(target))


# The sweep's own tasks expire: while a module's workers are down (a move), its
# queue must not fill with a task per sweep.
SWEEP_TASK_EXPIRES = 60.0


# A task that found its target busy looks again no sooner than this: whoever
# holds it (a long catch-up, a rebuild) is not polled flat out.
BUSY_RETRY_SECONDS = 0.05


def ring_relay_covering(module: str) -> float:
    """A coalesced relay ring (as `ring_relay`) that also says for how many
    seconds from now another ring would buy nothing (0.0: no promise).

    A task waits, and has not started (its start clears the flag). It reads
    after every commit made before it starts; when it starts it marks the run
    for a pace, and a task sent for a commit after its read could not start
    before that mark runs out. So a ring up to a pace after the waiting task
    may first start (now, or the end of the countdown it was sent with now)
    would start its successor no later than a ring at once. The cover ends a
    gathering short of that, as the ringer thread may ring that much late, so
    that the successor is sent before it could start. Another run that marks
    the target meanwhile (the sweep's, a delivery relaying in place) and then
    finds the outbox busy paces its own successor from that mark instead: a
    commit after the waiting task's read may then wait up to a pace longer.
    """
    rung = _ring_many([_Ring(relay_target(module), RELAY_TASK, module, (module,))])[0]
    if not rung.waiting:
        return 0.0
    return max(0.0, rung.countdown + _default_pace() - _gather_seconds())


def _default_pace() -> float:
    """EVENTS_KICK_PACE_SECONDS (0.0 for a value that is no finite number)."""
    try:
        return _finite(float(getattr(settings, "EVENTS_KICK_PACE_SECONDS", 0.0)))
    except (TypeError, ValueError):
        return 0.0


def _finite(seconds: float) -> float:
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def ring_relay(module: str, *, coalesce: bool = True, at_least: float | None = None) -> bool:
    """A module's outbox is relayed on the module's own queue, by its own workers:
    only they need its database (so it can move with them). Uncoalesced (the
    sweep): it also clears relayed outbox rows past their retention."""
    if not coalesce:
        return _send(RELAY_TASK, queue=module, args=(module, True), expires=SWEEP_TASK_EXPIRES)
    return _ring(relay_target(module), RELAY_TASK, queue=module, args=(module,), at_least=at_least)


class _RelayRinger:
    """Rings relay doorbells from a background thread, so that a commit (an API
    request, a placement) does not wait for Redis and the broker.

    Every ring asked for starts after the ask: a module asked for while its ring
    is under way is rung again, so the doorbell's promise holds (a task reads
    after every commit that asked). After each ring the thread gathers asks for
    a quarter of EVENTS_KICK_PACE_SECONDS and rings them as one: a ring costs
    the asking process about as much CPU as a placement, and under load the
    relay runs once per pace whatever the number of rings. An ask after a quiet
    spell is rung at once. A ring that finds (or sends) a waiting task needs no
    successor for that module until about a pace after the task may first start
    (`ring_relay_covering`): the task reads after every commit made before it
    starts, and the one after it waits out the pace mark it sets, so asks for
    that module wait that long. Other modules are rung as usual. At exit,
    whatever is still asked for, or was being rung, is rung in place.
    """

    def __init__(self, ring: Callable[[str], object] | None = None) -> None:
        # None: ring_relay_covering. Tests give their own; a float it returns
        # is the seconds the ring covers, anything else covers nothing.
        self._ring = ring
        self._start_over()
        # A forked child (a Celery pool process) has no thread, and its lock may
        # have been held by the parent's at the fork.
        os.register_at_fork(after_in_child=self._start_over)
        atexit.register(self.ring_now)

    def _start_over(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._wanted: set[str] = set()
        self._ringing: set[str] = set()
        # Per module: until when another ring would buy nothing (its last ring's cover).
        self._covered_until: dict[str, float] = {}
        self._started = False
        self._closed = False

    def ask(self, module: str) -> None:
        with self._lock:
            # Asked for already: it is due (rung after the gathering) or
            # covered (the thread's wait ends with its cover). Waking the thread
            # for every commit would cost the asking process a thread switch each.
            first = module not in self._wanted
            self._wanted.add(module)
            if not self._started:
                try:
                    threading.Thread(target=self._run, name="relay-ringer", daemon=True).start()
                    self._started = True
                except RuntimeError as exc:  # no thread to be had: the next ask tries
                    # again, the sweep and the exit ring catch up; the commit stands.
                    logger.warning("could not start the relay ringer (%s)", exc)
            if first:
                self._wake.notify()

    def _run(self) -> None:
        try:
            while self._ring_what_is_asked():
                pass
        finally:  # should it die all the same, the next ask starts another
            with self._lock:
                self._started = False

    def _ring_what_is_asked(self) -> bool:
        with self._lock:
            due = self._due()
            while not due and not self._closed:
                self._wake.wait(self._until_next_due())
                due = self._due()
            if self._closed:
                return False
            self._ringing = due
            self._wanted -= due
            modules = sorted(due)
        for module in modules:
            rung_at = time.monotonic()  # the cover counts from the mark's reading
            try:
                covered = self._ring_one(module)
            except Exception:  # the thread must live on; the sweep catches up
                logger.exception("could not ring the relay of %s", module)
                covered = 0.0
            with self._lock:
                self._covered_until[module] = rung_at + covered
        with self._lock:
            self._ringing = set()
        time.sleep(_gather_seconds())
        return True

    def _due(self) -> set[str]:
        """The modules asked for whose last ring's cover has run out (lock held)."""
        now = time.monotonic()
        return {m for m in self._wanted if self._covered_until.get(m, 0.0) <= now}

    def _until_next_due(self) -> float | None:
        """Seconds until the first asked-for module's cover runs out (lock held);
        None: nothing is asked for, wait for an ask."""
        if not self._wanted:
            return None
        first = min(self._covered_until.get(m, 0.0) for m in self._wanted)
        return max(0.0, first - time.monotonic())

    def _ring_one(self, module: str) -> float:
        """Ring; the seconds that ring covers (see `ring_relay_covering`)."""
        covered = (self._ring or ring_relay_covering)(module)
        if isinstance(covered, float) and covered > 0:  # NaN and negatives: none
            return min(covered, _MOST_COVERED_SECONDS)
        return 0.0

    def ring_now(self) -> None:
        with self._lock:
            modules = sorted(self._wanted | self._ringing)
            self._wanted = set()
        for module in modules:
            try:
                self._ring_one(module)
            except Exception:  # at exit too, one failure must not skip the rest
                logger.exception("could not ring the relay of %s", module)

    def close(self) -> None:
        """Let the thread end (tests); what is still asked for stays for ring_now."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        atexit.unregister(self.ring_now)


# However long a ring says it covers, the thread looks again after this.
_MOST_COVERED_SECONDS = 1.0


def _gather_seconds() -> float:
    return min(_default_pace() / 4, _MOST_COVERED_SECONDS)


_relay_ringer = _RelayRinger()


def ring_relay_soon(module: str) -> None:
    """After a commit: have `module`'s outbox relayed, without waiting for the ring.

    In a Celery worker it rings in place: nobody waits on a task for it, and a
    pool process leaves through os._exit, past the `atexit` that rings what the
    thread had not rung yet.
    """
    if _in_worker:
        ring_relay(module)
        return
    _relay_ringer.ask(module)


# Whether this is a Celery worker process: set in the worker's main process
# before the pool forks (its processes inherit it; the solo and threads pools
# run tasks there), and again in each pool process, for those spawned rather
# than forked (billiard's default on macOS), which import this module afresh.
# A flag, not `current_task`: asking Celery's task stack on every placement
# costs more than the flag.
_in_worker = False


@signals.worker_init.connect
@signals.worker_process_init.connect
def _ring_in_place(**_signal: object) -> None:
    global _in_worker
    _in_worker = True


def ring_delivery(
    subscriber: str, *, module: str, coalesce: bool = True, at_least: float | None = None
) -> bool:
    """`coalesce=False` (the sweep): send whatever the doorbell says, in case a
    flag outlived its task (a lost task, a worker on older code)."""
    if not coalesce:
        return _send(DELIVER_TASK, queue=module, args=(subscriber,), expires=SWEEP_TASK_EXPIRES)
    return _ring(
        deliver_target(subscriber), DELIVER_TASK, queue=module, args=(subscriber,),
        at_least=at_least,
    )  # fmt: skip


def ring_deliveries(subscribers: list[tuple[str, str]]) -> None:
    """Coalesced rings for several (subscriber, module) pairs in one Redis round
    trip: what a relay run does for every subscriber of what it moved."""
    if subscribers:
        _ring_many(
            [
                _Ring(deliver_target(name), DELIVER_TASK, module, (name,))
                for name, module in subscribers
            ]
        )


def send_delivery_later(subscriber: str, *, module: str, countdown: float) -> bool:
    """A retry at a set time: not coalesced, the doorbell is for 'as soon as you can'."""
    return _send(DELIVER_TASK, queue=module, args=(subscriber,), countdown=countdown)
