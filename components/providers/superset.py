"""State compatibility: stacks deployed before the providers moved into their product folders hold
these classes under this path (components/providers/__init__.py)."""

from components.presentation.provider import DatabaseProvider, RoleProvider, UserProvider

__all__ = ['DatabaseProvider', 'RoleProvider', 'UserProvider']
