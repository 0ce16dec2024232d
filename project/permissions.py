"""django-guardian, made to work when objects live on other databases.

Grants are rows in `platform` naming an object by content type and primary key.
Nothing here may load the object itself: it lives in a module's schema, which
the `default` connection cannot read.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from project.topology import PLATFORM_ALIAS

M = TypeVar("M", bound=Model)


def content_type_for(obj: Model | type[Model]) -> ContentType:
    """Guardian's GET_CONTENT_TYPE hook: content types always come from `default`."""
    return ContentType.objects.db_manager(PLATFORM_ALIAS).get_for_model(obj)


def objects_for_user(*, user: object, codename: str, queryset: QuerySet[M]) -> QuerySet[M]:
    """The subset of `queryset` on which `user` holds the object permission `codename`.

    Replaces `guardian.shortcuts.get_objects_for_user`, which joins the grant
    table to the object's table and so cannot work across databases: the
    permitted ids are read from `default` first, then the module's queryset is
    filtered by them.
    """
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if getattr(user, "is_superuser", False):
        return queryset
    permitted = object_ids_for_user(
        user_id=user.pk,  # type: ignore[attr-defined]
        model=queryset.model,
        codename=codename,
    )
    return queryset.filter(pk__any=sorted(permitted))  # one parameter, however many


def object_ids_for_user(*, user_id: int, model: type[Model], codename: str) -> set[str]:
    """Primary keys (as text) of `model` objects on which the user holds `codename`,
    directly or through a group. Reads `default` only."""
    from project.models import GroupObjectGrant, UserObjectGrant

    grants = {"content_type": content_type_for(model), "permission__codename": codename}
    return {
        *UserObjectGrant.objects.filter(user_id=user_id, **grants).values_list(
            "object_pk", flat=True
        ),
        *GroupObjectGrant.objects.filter(group__user__id=user_id, **grants).values_list(
            "object_pk", flat=True
        ),
    }
