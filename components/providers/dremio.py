"""State compatibility: stacks deployed before the providers moved into their product folders hold
these classes under this path (components/providers/__init__.py)."""

from components.lakehouse.provider import (
    CatalogProvider,
    FirstAdminProvider,
    GrantsProvider,
    RoleProvider,
    UserProvider,
)

__all__ = ['CatalogProvider', 'FirstAdminProvider', 'GrantsProvider', 'RoleProvider', 'UserProvider']
