"""REST endpoints of the customers module."""
