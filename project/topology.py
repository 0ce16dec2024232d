"""Who owns what in the database: one alias, one schema and one role per module.

This is the single place that names the modules. Settings, the router,
provisioning and the tests all read it, so a sixth module is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass

MODULES: tuple[str, ...] = ("customers", "orders", "ticketing", "bookings", "events")

PLATFORM_ALIAS = "default"
PLATFORM_SCHEMA = "platform"
PLATFORM_ROLE = "platform_role"


@dataclass(frozen=True)
class Territory:
    """A database alias together with the schema it owns and the role it logs in as."""

    alias: str
    schema: str
    role: str

    @property
    def is_module(self) -> bool:
        return self.alias in MODULES


def module_territory(module: str) -> Territory:
    return Territory(alias=module, schema=module, role=f"{module}_role")


PLATFORM = Territory(alias=PLATFORM_ALIAS, schema=PLATFORM_SCHEMA, role=PLATFORM_ROLE)
TERRITORIES: tuple[Territory, ...] = (PLATFORM, *(module_territory(m) for m in MODULES))


def alias_for_app_label(app_label: str) -> str:
    """A module's models live on the module's alias; Django's own apps on `default`."""
    return app_label if app_label in MODULES else PLATFORM_ALIAS


def territory_for_alias(alias: str) -> Territory:
    for territory in TERRITORIES:
        if territory.alias == alias:
            return territory
    raise KeyError(f"no territory for database alias {alias!r}")
