"""The dynamic providers' former module paths, kept for existing stacks.

Pulumi stores each dynamic provider in state as a pickle that names its class by module path. Providers now live
in their product folders (`components/<product>/provider.py`; the runtime's trust bundle in
`components/runtime/trust_bundle.py`), but stacks deployed before that move hold these paths, so each module
here re-exports the classes its state names. One `pulumi up` of a stack with this version rewrites every dynamic
resource's provider to the new path (docs/upgrading.md); once every stack has had it, this package can go.
tests/components/providers/test_provider_paths.py loads providers serialized under these paths.
"""
