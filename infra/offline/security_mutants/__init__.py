"""The security mutation suite: realistic security mistakes, one at a time, on a compliant baseline of each stack,
judged by the real policy pack through the gate's interface (docs/policies.md, "The mutation suite").

    python -m infra.offline.security_mutants        every mutation judged; counts per layer (make security-mutants)

Layers: `resource` (an input or option of one recorded resource), `rendered` (an object a chart renders, when the
chart cache has it), `config` (Pulumi.<stack>.yaml), `catalog` (infra/dataflow.yaml) and `code` (a component function
patched). Each mistake names the exact (policy, resource) findings it must add to the baseline's, every one from a
policy mandatory in prod, or the config model's refusal (exit 2); a mistake nothing stops yet names what is missing
and is kept as a strict expected failure. Each secure variant must add no finding.
"""

from infra.offline.security_mutants import identity, program, rendered, resources, secure
from infra.offline.security_mutants.bench import LAYERS, Bench, Mutation, Verdict

MUTATIONS: list[Mutation] = [*resources.MUTATIONS, *rendered.MUTATIONS, *program.MUTATIONS, *secure.MUTATIONS,
                             *identity.MUTATIONS, *identity.SECURE]

__all__ = ["LAYERS", "MUTATIONS", "Bench", "Mutation", "Verdict"]
