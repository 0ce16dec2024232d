"""The orders module: Orders and their lines; the Place Order saga's order side.

Private to itself except `apps.orders.public`. Its tables live in the `orders`
schema, reached through the `orders` database alias as `orders_role`.
"""
