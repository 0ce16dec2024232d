"""REST endpoints of the events module."""
