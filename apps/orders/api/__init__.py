"""REST endpoints of the orders module."""
