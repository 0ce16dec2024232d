"""The module map and the message catalogue in docs/ are what the code says."""

from __future__ import annotations

from django.core.management import call_command


def test_the_module_map_and_message_catalogue_are_current() -> None:
    # Raises CommandError, naming the stale file, when the code has moved on.
    call_command("document_modules", "--check")
