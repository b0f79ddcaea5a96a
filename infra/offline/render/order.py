"""Install order: a custom resource can be created only once its CRD exists and its operator runs.

Over the plan's dependency graph (`Plan.waits_for`: dependencies and parents, transitively, as Pulumi orders
them), two rules:

- a release that renders objects of a CRD's kind waits for the release that installs that CRD; a release that
  installs the CRD itself must ship it in `crds/`, because Helm resolves every object's kind before creating any,
  so a CRD among the templates is not there yet for the objects beside it;
- a custom resource the program declares waits for the release that installs its CRD, which is also the release
  that runs its operator (and the operator's admission webhook) for every pinned chart.

A CRD that no release of the stack installs (prod's cert-manager, which the cluster already runs) is a
precondition of the cluster, reported as a note, not a problem.
"""

from __future__ import annotations

from infra.offline.render import kubernetes
from infra.offline.render.crds import CrdIndex
from infra.offline.render.helm import RenderedObject
from infra.offline.render.planfile import Plan
from infra.offline.render.problems import Problem


def install_order(plan: Plan, installed: dict[str, list[RenderedObject]],
                  index: CrdIndex) -> tuple[list[Problem], list[str]]:
    """Problems and notes, for the releases that rendered (`installed`: release name -> what it creates)."""
    releases = {release.name: release for release in plan.releases}
    problems: list[Problem] = []
    notes: set[str] = set()
    unknown: set[str] = set()
    for name, objects in sorted(installed.items()):
        release = releases[name]
        kinds = sorted({(item.api_version, item.kind) for item in objects
                        if not kubernetes.is_built_in(item.api_version, item.kind)})
        for api_version, kind in kinds:
            crd = index.find(api_version, kind)
            if crd is None:
                unknown.add(kind)  # the CRD check reports a kind no pinned chart defines
                continue
            group = api_version.rpartition("/")[0]
            if crd.release is None:
                notes.add(f"release {name} renders {kind} ({group}), whose CRD no release of this stack installs: "
                          f"the cluster must already have it (chart {crd.chart} ships it)")
            elif crd.release == name:
                if crd.templated:
                    problems.append(Problem(
                        "install-order", name, f"{name}:{group}/{kind}",
                        f"release {name} renders {kind} ({group}) beside the template that creates its CRD: Helm "
                        "resolves every kind before it creates anything, so a first install fails"))
            elif releases[crd.release].urn not in plan.waits_for(release.urn):
                problems.append(Problem(
                    "install-order", name, f"{name}:{group}/{kind}",
                    f"release {name} renders {kind} ({group}) but does not wait for release {crd.release}, which "
                    f"installs its CRD: a first `pulumi up` fails with \"no matches for kind {kind}\""))
    for declared in plan.declared_objects:
        if kubernetes.is_built_in(declared.api_version, declared.kind):
            continue
        crd = index.find(declared.api_version, declared.kind)
        if crd is None:
            unknown.add(declared.kind)
            continue
        if crd.release is None:
            notes.add(f"{declared.kind} ({declared.group}) is declared by the program, and no release of this stack "
                      f"installs its CRD: the cluster must already run {crd.chart}")
        elif releases[crd.release].urn not in plan.waits_for(declared.urn):
            problems.append(Problem(
                "install-order", declared.resource, f"{declared.resource}:{crd.release}",
                f"{declared.kind} {declared.resource} does not wait for release {crd.release}, which installs its "
                f"CRD and runs its operator: a first `pulumi up` may create it before either exists"))
    if unknown:
        notes.add(f"not checked for {', '.join(sorted(unknown))}: no cached chart defines their CRDs")
    return problems, sorted(notes)
