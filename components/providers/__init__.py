"""Dynamic providers for services configured over their APIs (no maintained Pulumi provider exists for them)."""
