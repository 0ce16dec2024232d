"""Set-at-a-time helpers for the hot paths, where a handler treats a batch of
hundreds of messages in a few statements.

- `field__any=[...]`: the rows of `field__in`, as `field = ANY(%s)` with the
  values as one array parameter. `__in` puts one placeholder per value in the
  SQL, and the driver splits and quotes a 500-id query anew for every batch
  (a new text each time, so nothing is cached): the slowest part of a batch.
- `rows_copy(model, fields, rows)`: an INSERT of many rows through COPY, not
  `bulk_create`, whose SQL compiler runs per row and per field.
- `rows_update(model, key, fields, rows)` and `rows_upsert(...)`: many rows set
  to values of their own in one statement, from one array per column (`unnest`),
  not `bulk_update`'s CASE per row and field, or `bulk_create`'s compiler.
  The arrays travel in binary, decimals' as text.

See docs/benchmarks.md for what each bought.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections
from django.db.models import Field, ForeignObject, Lookup, Model


@ForeignObject.register_lookup  # foreign keys keep lookups of their own
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False  # the value is a list: each item is prepared below

    def get_db_prep_lookup(self, value: Iterable[Any], connection: Any) -> tuple[str, list[Any]]:
        field = self.lhs.output_field
        return "%s", [[field.get_db_prep_value(item, connection, prepared=False) for item in value]]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def rows_copy(
    model: type[Model], *, using: str, fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert `rows` (values in the order of `fields`, as the database takes them)
    into `model`'s table with one COPY. No defaults are filled in, no signals sent."""
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _unnested(model: type[Model], connection: Any, fields: Sequence[str]) -> tuple[str, str]:
    """Quoted columns, and `unnest(%s::type[], ...)` over one array per field."""
    quote = connection.ops.quote_name
    model_fields = [model._meta.get_field(name) for name in fields]
    columns = ", ".join(quote(field.column) for field in model_fields)
    # Types without their length: an explicit cast to varchar(10) would cut a
    # longer value silently, where storing it into the column fails loudly.
    arrays = ", ".join(
        f"{_array_placeholder(field)}::{field.db_type(connection).split('(')[0]}[]"
        for field in model_fields
    )
    return columns, f"unnest({arrays})"


def _array_placeholder(field: Field) -> str:
    """`%b`: the array goes in binary, which psycopg writes faster than text
    (docs/benchmarks.md); `%s` for decimals, whose binary form is the slower one."""
    return "%s" if field.get_internal_type() == "DecimalField" else "%b"


def _columns_of(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[index] for row in rows] for index in range(width)]


def rows_update(
    model: type[Model],
    *,
    using: str,
    key: str,
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> int:
    """Set `fields` of the rows whose `key` is each row's first value to the row's
    other values, in one UPDATE; rows with no match are skipped. Returns how many
    were updated."""
    if not rows:
        return 0
    connection = connections[using]
    quote = connection.ops.quote_name
    _, source = _unnested(model, connection, [key, *fields])
    names = [model._meta.get_field(name).column for name in (key, *fields)]
    aliases = ", ".join(quote(name) for name in names)
    assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in names[1:])
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM {source} AS v({aliases})"  # noqa: S608
            f" WHERE t.{quote(names[0])} = v.{quote(names[0])}",
            _columns_of(rows, len(names)),
        )
        return cursor.rowcount


def rows_upsert(
    model: type[Model],
    *,
    using: str,
    key: str,
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert rows (`key`'s value, then `fields`'), replacing `fields` of those
    whose key exists already, in one statement. Each key at most once."""
    if not rows:
        return
    connection = connections[using]
    quote = connection.ops.quote_name
    columns, source = _unnested(model, connection, [key, *fields])
    updated = [quote(model._meta.get_field(name).column) for name in fields]
    assignments = ", ".join(f"{column} = EXCLUDED.{column}" for column in updated)
    key_column = quote(model._meta.get_field(key).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM {source}"  # noqa: S608
            f" ON CONFLICT ({key_column}) DO UPDATE SET {assignments}",
            _columns_of(rows, len(fields) + 1),
        )
