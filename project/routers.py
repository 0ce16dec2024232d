"""Sends each model to its owner's database alias and refuses relations across owners."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from project.topology import alias_for_app_label


class ModuleRouter:
    """A module's models are read, written and migrated only on the module's alias.

    Django's own apps (auth, admin, sessions, content types, guardian) belong to
    `default`. Relations between models of different owners are refused, so an
    accidental cross-module join fails loudly instead of querying the wrong schema.
    """

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return alias_for_app_label(model._meta.app_label)

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return alias_for_app_label(model._meta.app_label)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return alias_for_app_label(obj1._meta.app_label) == alias_for_app_label(
            obj2._meta.app_label
        )

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return db == alias_for_app_label(app_label)
