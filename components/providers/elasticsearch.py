"""State compatibility: stacks deployed before the providers moved into their product folders hold
these classes under this path (components/providers/__init__.py)."""

from components.logs.provider import IlmPolicyProvider, IndexTemplateProvider, RoleProvider, UserProvider

__all__ = ['IlmPolicyProvider', 'IndexTemplateProvider', 'RoleProvider', 'UserProvider']
