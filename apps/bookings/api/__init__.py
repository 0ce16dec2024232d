"""REST endpoints of the bookings module."""
