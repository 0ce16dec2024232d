"""django-guardian wired for objects on other databases (docs/permissions.md)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import ValidationError
from guardian.shortcuts import assign_perm, get_perms, remove_perm

from project.models import UserObjectGrant
from project.permissions import content_type_for, objects_for_user

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def groups() -> list[Group]:
    return [Group.objects.create(name=f"group-{i}") for i in range(3)]


def test_a_grant_is_stored_in_platform_and_checked_per_object(groups: list[Group]) -> None:
    alice = User.objects.create_user("alice")
    assign_perm("auth.change_group", alice, groups[1])

    grant = UserObjectGrant.objects.get()
    assert (grant.object_pk, grant.permission.codename) == (str(groups[1].pk), "change_group")
    assert alice.has_perm("auth.change_group", groups[1])
    assert not User.objects.get(pk=alice.pk).has_perm("auth.change_group", groups[0])
    assert get_perms(alice, groups[1]) == ["change_group"]
    assert str(grant) == f"alice may change_group group {groups[1].pk}"


def test_objects_for_user_filters_by_ids_read_from_platform(groups: list[Group]) -> None:
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    boss = User.objects.create_superuser("boss")
    assign_perm("auth.view_group", alice, groups[0])
    assign_perm("auth.view_group", alice, groups[2])
    shared = Group.objects.create(name="shared")
    bob.groups.add(shared)
    assign_perm("auth.view_group", shared, groups[1])

    def visible(user: object) -> list[str]:
        queryset = objects_for_user(user=user, codename="view_group", queryset=Group.objects.all())
        return sorted(queryset.values_list("name", flat=True))

    assert visible(alice) == ["group-0", "group-2"]
    assert visible(bob) == ["group-1"]
    assert len(visible(boss)) == 4
    remove_perm("auth.view_group", alice, groups[0])
    assert visible(alice) == ["group-2"]


def test_a_grant_for_the_wrong_type_is_refused(groups: list[Group]) -> None:
    alice = User.objects.create_user("alice")
    user_permission = Permission.objects.get(codename="change_user")
    grant = UserObjectGrant(
        user=alice,
        permission=user_permission,
        content_type=content_type_for(Group),
        object_pk=str(groups[0].pk),
    )
    with pytest.raises(ValidationError, match="does not apply"):
        grant.save()
