"""Entry point the Pulumi CLI runs (`main: infra/` in Pulumi.yaml)."""

from infra.program import main

main()
