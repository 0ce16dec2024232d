"""The public face of the ticketing module: the only package other modules may import.

It holds the messages the module publishes and accepts, and query functions
that return frozen DTOs (never model instances).
"""

from apps.ticketing.public import messages, queries

__all__ = ["messages", "queries"]
