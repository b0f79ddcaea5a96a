"""State compatibility: stacks deployed before the providers moved into their product folders hold each provider's
retry policy under this path (components/providers/__init__.py)."""

from components.kit.rest import Retry

__all__ = ["Retry"]
