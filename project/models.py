"""Platform models: object-permission grants for django-guardian.

Guardian's stock models check a grant by loading the object through a generic
foreign key. Objects live in module schemas that `default` cannot read, so these
grants check the permission's content type instead and never touch the object.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from guardian.models import GroupObjectPermissionAbstract, UserObjectPermissionAbstract


class _GrantWithoutObjectLoad(models.Model):
    class Meta:
        abstract = True

    def __str__(self) -> str:
        # guardian's __str__ loads the object across databases; name it by type and id.
        holder = getattr(self, "user", None) or getattr(self, "group", None)
        codename = self.permission.codename  # type: ignore[attr-defined]
        return f"{holder} may {codename} {self.content_type.model} {self.object_pk}"  # type: ignore[attr-defined]

    def save(self, *args: Any, **kwargs: Any) -> None:
        permission = self.permission  # type: ignore[attr-defined]
        if self.content_type_id != permission.content_type_id:  # type: ignore[attr-defined]
            raise ValidationError(
                f"permission {permission.codename!r} does not apply to this object's type"
            )
        # Skip guardian's save(), which resolves `content_object` (a cross-database read).
        models.Model.save(self, *args, **kwargs)


class UserObjectGrant(_GrantWithoutObjectLoad, UserObjectPermissionAbstract):
    class Meta(UserObjectPermissionAbstract.Meta):
        abstract = False
        verbose_name = "user object permission"


class GroupObjectGrant(_GrantWithoutObjectLoad, GroupObjectPermissionAbstract):
    class Meta(GroupObjectPermissionAbstract.Meta):
        abstract = False
        verbose_name = "group object permission"
