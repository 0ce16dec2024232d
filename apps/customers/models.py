"""Models of the customers module, stored in the `customers` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""
