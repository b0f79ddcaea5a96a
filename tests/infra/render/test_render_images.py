"""Once the image locks hold a digest for every entry, every image the stacks run is pinned by it: the images the
charts render (their containers, the Prometheus and Alertmanager the operator starts, the config reloader it adds to
their pods) and the operators' images for the program's custom resources. The charts' own defaults are covered only
where the program sets the chart's image values from the lock (infra/model/charts.py `images`), so these renders use
synthetic locks with a digest for every entry and look for any image left without one.

The real lock has no digest yet: the image-lock workflow fills them where registries answer
(tests/infra/render/test_render_gate.py keeps that as a strict expected failure). A release whose chart defaults the
program does not set yet is a strict expected failure here, named by the images it leaves unpinned. Needs the chart
cache (`make chart-cache`); a chart the cache lacks is skipped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import components.kit.images as kit_images
from infra.model.charts import CHARTS
from infra.model.images import PLATFORM_LOCK, VENDOR_LOCK, ImageRef, images_in, parse_reference, read_lock
from infra.offline.render.cache import default_cache
from infra.offline.render.helm import render_chart
from infra.offline.render.stage import ReleaseResult, StackRender, render_stack
from infra.offline.render.values import helm_values
from tests.conftest import run_stack
from tests.infra.render.test_render_stacks import RELEASES
from tests.support.render import plan_of, release

STACKS = ("dev", "prod")
DIGEST = "sha256:" + "d" * 64
# Operator flags naming an image the operator puts into the pods it creates: the Prometheus Operator adds its config
# reloader to every Prometheus and Alertmanager pod. Not listed, because this stack never has them run: cert-manager's
# `--acme-http01-solver-image` (ACME issuers only; the platform's issuers are CA issuers) and the Prometheus
# Operator's `--thanos-default-base-image` and `--*-default-base-image` (a Thanos sidecar, which no Prometheus here
# has, and resources that name no image, which these charts never render).
IMAGE_FLAGS = ("--prometheus-config-reloader=",)
# Custom resources whose operator picks the image itself unless the resource names one, and the field that does.
OPERATOR_IMAGE_FIELDS = {
    ("elasticsearch.k8s.elastic.co", "Elasticsearch"): "image",
    ("postgresql.cnpg.io", "Cluster"): "imageName",
    ("monitoring.coreos.com", "Prometheus"): "image",
    ("monitoring.coreos.com", "Alertmanager"): "image",
}


@pytest.fixture(scope="module")
def pinned_renders() -> Iterator[dict[str, StackRender]]:
    """Both stacks planned and rendered with both locks as CI leaves them once every entry has its digest."""
    platform = {name: f"{image.key}@{DIGEST}" for name, image in read_lock(PLATFORM_LOCK).items()}
    vendor = {key: DIGEST for key in read_lock(VENDOR_LOCK)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kit_images, "image_references", lambda *_args: dict(platform))
        patch.setattr(kit_images, "vendor_digests", lambda *_args: dict(vendor))
        patch.setattr("components.runtime.component.image_references", lambda *_args: dict(platform))
        recordings = {stack: run_stack(stack) for stack in STACKS}
    yield {stack: render_stack(plan_of(recording), default_cache()) for stack, recording in recordings.items()}


def _flag_images(value: Any) -> Iterator[ImageRef]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flag_images(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.startswith(IMAGE_FLAGS):
                yield parse_reference(item.partition("=")[2])
            else:
                yield from _flag_images(item)


def _operator_defaults(document: Mapping[str, Any]) -> list[str]:
    """`<Kind>/<name>` of a custom resource that leaves its image to its operator."""
    group = str(document.get("apiVersion", "")).partition("/")[0]
    field = OPERATOR_IMAGE_FIELDS.get((group, document.get("kind")))
    if field is None or (document.get("spec") or {}).get(field):
        return []
    return [f"{document['kind']}/{(document.get('metadata') or {}).get('name')} (the operator's default image)"]


def unpinned(documents: list[Mapping[str, Any]]) -> list[str]:
    images = [image for document in documents for image in [*images_in(document), *_flag_images(document)]]
    found = {image.key for image in images if not image.digest}
    return sorted(found) + sorted({name for document in documents for name in _operator_defaults(document)})


# Releases whose charts run images the program does not set yet, by stack: the images they leave unpinned. Each is a
# strict expected failure of test_known_gap_is_closed until the release's values name them.
KNOWN_GAPS: dict[tuple[str, str], tuple[str, ...]] = {}


def _rendered(render: StackRender, name: str) -> ReleaseResult:
    result = release(render, name)
    if result.status == "skipped":
        pytest.skip(f"{render.stack} release {name}: {result.reason}")
    assert result.status == "rendered", result.reason
    return result


def _unpinned_of(render: StackRender, name: str) -> list[str]:
    return unpinned([item.document for item in _rendered(render, name).installed])


@pytest.mark.parametrize(("stack", "name"), [(stack, name) for stack in STACKS for name in RELEASES[stack]],
                         ids=[f"{stack}-{name}" for stack in STACKS for name in RELEASES[stack]])
def test_every_image_a_release_renders_is_pinned_once_the_locks_are(pinned_renders: dict[str, StackRender],
                                                                     stack: str, name: str) -> None:
    known = KNOWN_GAPS.get((stack, name), ())
    assert [image for image in _unpinned_of(pinned_renders[stack], name) if image not in known] == []


@pytest.mark.parametrize(
    ("stack", "name"),
    [pytest.param(stack, name, id=f"{stack}-{name}", marks=pytest.mark.xfail(
        strict=True, reason=f"the program does not set the chart's image values for {', '.join(gap)}: with every "
                            "lock entry digested, the chart still runs them by tag"))
     for (stack, name), gap in KNOWN_GAPS.items()],
)
def test_known_gap_is_closed(pinned_renders: dict[str, StackRender], stack: str, name: str) -> None:
    unpinned_images = _unpinned_of(pinned_renders[stack], name)
    assert not set(KNOWN_GAPS[(stack, name)]) & set(unpinned_images), unpinned_images


@pytest.mark.parametrize("stack", STACKS)
def test_every_image_the_program_names_is_pinned_once_the_locks_are(pinned_renders: dict[str, StackRender],
                                                                    stack: str) -> None:
    """The program's own workloads and custom resources, as the plan records them (release values included)."""
    plan = pinned_renders[stack].plan
    documents = [resource.get("inputs") or {} for resource in plan.document["resources"]]
    assert unpinned([*documents, *(declared.body for declared in plan.declared_objects)]) == []


def _without_images(values: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    stripped = copy.deepcopy(values)
    for path in paths:
        *parents, leaf = path.split(".")
        target: Any = stripped
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(leaf, None)
    return stripped


def _image_keys(documents: list[Mapping[str, Any]]) -> list[str]:
    return sorted(image.key for document in documents for image in [*images_in(document), *_flag_images(document)])


# The runtime's releases whose chart defaults the program sets (components/runtime/values.py).
OVERRIDDEN = [(stack, name) for stack in STACKS for name in ("cert-manager", "elastic-operator", "fluent-bit",
                                                             "prometheus", "redis") if name in RELEASES[stack]]


@pytest.mark.parametrize(("stack", "name"), OVERRIDDEN, ids=[f"{stack}-{name}" for stack, name in OVERRIDDEN])
def test_the_image_values_name_the_charts_own_defaults(pinned_renders: dict[str, StackRender], stack: str,
                                                        name: str) -> None:
    """The chart rendered without the program's image values runs the same images, tag for tag: a chart pin that
    moves without its images (components/runtime/values.py) fails here."""
    result = _rendered(pinned_renders[stack], name)
    assert result.cached is not None
    values, _ = helm_values(result.release.values)
    default = render_chart(result.cached.path, _without_images(values, CHARTS[result.release.chart].images),
                           result.release.name, result.release.namespace)
    assert default.render_error is None, default.render_error
    installed = [item.document for item in result.installed]
    defaults = [item.document for item in default.objects if not item.is_test]
    if name == "redis":
        # Valkey runs a newer patch than its chart's default (components/presentation/cache.py says why).
        assert {key.rpartition(":")[0] for key in _image_keys(defaults)} == {
            key.rpartition(":")[0] for key in _image_keys(installed)}
        return
    assert _image_keys(defaults) == _image_keys(installed)
