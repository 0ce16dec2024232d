"""Models of the ticketing module, stored in the `ticketing` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""
