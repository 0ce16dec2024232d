"""Correlation and causation, filled in automatically.

A request gets a correlation id (from `X-Correlation-ID`, or a new one); every
message published while it is handled carries it. While a subscriber handles a
message, messages it publishes carry that message's correlation id and name it
as their cause. So a saga's whole history shares one correlation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from apps.events.public.envelope import Envelope

CORRELATION_HEADER = "X-Correlation-ID"


@dataclass(frozen=True)
class MessageContext:
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    # The subscriber being run, if any; a projection may not publish.
    subscriber: str | None = None
    may_publish: bool = True


_current: ContextVar[MessageContext | None] = ContextVar("boxoffice_message_context", default=None)


def current_context() -> MessageContext:
    """The context in force, or a fresh correlation for work started from nowhere."""
    return _current.get() or MessageContext(correlation_id=uuid.uuid4())


def replying_to(envelope: Envelope) -> MessageContext:
    """The context for a message published in answer to `envelope`, in the subscriber
    being run: for group handlers, which answer several envelopes in one call."""
    running = current_context()
    return MessageContext(
        correlation_id=envelope.correlation_id,
        causation_id=envelope.message_id,
        subscriber=running.subscriber,
        may_publish=running.may_publish,
    )


@contextmanager
def message_context(context: MessageContext) -> Iterator[MessageContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _correlation_from(request: HttpRequest) -> uuid.UUID:
    try:
        return uuid.UUID(request.headers.get(CORRELATION_HEADER, ""))
    except ValueError:
        return uuid.uuid4()


class CorrelationIdMiddleware:
    """Puts every request in a correlation context and echoes its id in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = MessageContext(correlation_id=_correlation_from(request))
        with message_context(context):
            response = self.get_response(request)
        response[CORRELATION_HEADER] = str(context.correlation_id)
        return response
