"""The customers module: Customers and their credit ledger.

Private to itself except `apps.customers.public`. Its tables live in the `customers`
schema, reached through the `customers` database alias as `customers_role`.
"""
