"""State compatibility: stacks deployed before the providers moved into their product folders hold
these classes under this path (components/providers/__init__.py)."""

from components.runtime.trust_bundle import TrustBundleProvider

__all__ = ['TrustBundleProvider']
