"""The events module: The bus: outboxes, the append-only event store, subscribers and replay.

Private to itself except `apps.events.public`. Its tables live in the `events`
schema, reached through the `events` database alias as `events_role`.
"""
