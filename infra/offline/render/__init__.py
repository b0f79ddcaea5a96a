"""The render stage: every Helm release of the offline plan rendered from the chart cache and checked.

`python -m infra.offline.render --stack <stack>` (`make render`) renders each `helm.sh/v3:Release` of
`build/plan/<stack>.json` with exactly the plan's values, release name and namespace through Helm's Go SDK
(`helm-python-sdk`), and judges what it renders, and the custom resources the program declares, with what others
wrote: the charts' values.schema.json, Kubernetes' OpenAPI schemas (kubernetes-validate) for every supported
version, and the CRDs the pinned charts ship. docs/render.md says what it checks and what it cannot see.

By concern: `cache` (the chart cache and `make chart-cache`), `planfile` (releases, declared objects and creation
order from the plan), `values` (wire form to Helm values, stand-ins for what the plan cannot know), `helm` (one
chart rendered and split as Helm splits it), `kubernetes` (built-in objects against the Kubernetes schemas), `crds`
(custom resources against their CRDs), `order` (install order over the plan's dependency graph), `stage` (one
stack, every check), `report` (manifests, summary.json, console).
"""
