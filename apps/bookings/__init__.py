"""The bookings module: Bookings and the Book Seats saga that orchestrates them.

Private to itself except `apps.bookings.public`. Its tables live in the `bookings`
schema, reached through the `bookings` database alias as `bookings_role`.
"""
