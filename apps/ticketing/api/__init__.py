"""REST endpoints of the ticketing module."""
