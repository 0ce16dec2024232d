"""Models of the events module, stored in the `events` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""
