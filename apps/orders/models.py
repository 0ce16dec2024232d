"""Models of the orders module, stored in the `orders` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""
