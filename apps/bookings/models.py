"""Models of the bookings module, stored in the `bookings` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""
