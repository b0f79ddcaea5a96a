"""State compatibility: stacks deployed before the providers moved into their product folders hold
these classes under this path (components/providers/__init__.py)."""

from components.ingestion.provider import ConnectionProvider, DestinationProvider, SourceProvider, WorkspaceProvider

__all__ = ['ConnectionProvider', 'DestinationProvider', 'SourceProvider', 'WorkspaceProvider']
