"""The render stage: every Helm release of the plan rendered from the chart cache and checked (docs/render.md)."""
