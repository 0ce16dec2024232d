"""Checks over the model graph, shared by the architecture tests.

Modelled on Sentry's `validate_no_cross_silo_foreign_keys`: walk every field of
every model and report any relation whose two ends belong to different owners.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.contenttypes.fields import GenericForeignKey
from django.db.models import Model

from project.topology import alias_for_app_label, territory_for_alias

# Relations that are allowed to be generic, each with the reason. The tests fail
# on an entry that no longer matches anything, so the list cannot rot.
GENERIC_RELATION_EXEMPTIONS: dict[str, str] = {
    "guardian.UserObjectPermission.content_object": "guardian's stock grant, unused",
    "guardian.GroupObjectPermission.content_object": "guardian's stock grant, unused",
    "platform.UserObjectGrant.content_object": "grants name objects by type and id; never loaded",
    "platform.GroupObjectGrant.content_object": "grants name objects by type and id; never loaded",
}


def owner_of(model: type[Model]) -> str:
    return alias_for_app_label(model._meta.app_label)


def relation_violations(
    models: Iterable[type[Model]], exemptions: dict[str, str] = GENERIC_RELATION_EXEMPTIONS
) -> tuple[list[str], set[str]]:
    """Return (violations, exemptions that were used)."""
    violations: list[str] = []
    used: set[str] = set()
    for model in models:
        for field in model._meta.get_fields(include_hidden=True):
            if not field.is_relation or field.auto_created:
                continue
            name = f"{model._meta.label}.{field.name}"
            if isinstance(field, GenericForeignKey):
                if name in exemptions:
                    used.add(name)
                else:
                    violations.append(f"{name}: a generic relation can point into any module")
                continue
            target = field.related_model
            if target is None or isinstance(target, str):
                continue
            if owner_of(model) != owner_of(target):
                violations.append(
                    f"{name} -> {target._meta.label}: crosses from "
                    f"'{owner_of(model)}' to '{owner_of(target)}'; store the id as a UUID instead"
                )
    return violations, used


def expected_schema(model: type[Model]) -> str:
    return territory_for_alias(owner_of(model)).schema


def misplaced_tables(
    models: Iterable[type[Model]], schemas_by_table: dict[str, set[str]]
) -> list[str]:
    """Each concrete model's table must exist in its owner's schema and nowhere else."""
    problems: list[str] = []
    for model in models:
        meta = model._meta
        if meta.abstract or meta.proxy or not meta.managed:
            continue
        found = schemas_by_table.get(meta.db_table, set())
        wanted = expected_schema(model)
        if found != {wanted}:
            where = ", ".join(sorted(found)) or "nowhere"
            problems.append(f"{meta.label}: table {meta.db_table} is in {where}, not {wanted}")
    return problems
