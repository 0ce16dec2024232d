"""The public face of the bookings module: the only package other modules may import.

It holds the messages the module publishes and query functions that return
frozen DTOs (never model instances).
"""

from apps.bookings.public import messages, queries

__all__ = ["messages", "queries"]
