"""The ticketing module: Venues, shows, performances, seat allocations and tickets.

Private to itself except `apps.ticketing.public`. Its tables live in the `ticketing`
schema, reached through the `ticketing` database alias as `ticketing_role`.
"""
