"""Proves the image locks cover every image the stacks deploy, the program deploys a recorded digest, CI fills the
digests only from what a registry serves, and an image without a digest is reported offline and refused for prod."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import components.kit.images as kit_images
from infra.model.images import (
    DIGEST,
    PLATFORM_LOCK,
    VENDOR_LOCK,
    ImageRef,
    image_object,
    images_in,
    parse_reference,
    platform_repositories,
    read_lock,
    render_lock,
    undigested,
)
from infra.offline import image_lock, plan
from infra.offline.harness import Recording
from tests.conftest import run_stack

ROOT = Path(__file__).resolve().parents[2]
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
VALKEY = ImageRef("docker.io/valkey/valkey", "9.1.4")
NGINX = ImageRef("docker.io/nginxinc/nginx-unprivileged", "1.27-alpine")


def deployed(recording: Recording) -> list[ImageRef]:
    return [image for resource in recording.resources for image in images_in(resource.inputs)]


# ---- references ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("nginx", ImageRef("docker.io/library/nginx", "latest")),
    ("valkey/valkey:9.1.4", VALKEY),
    ("docker.io/valkey/valkey:9.1.4", VALKEY),
    (f"ghcr.io/cloudnative-pg/postgresql:15.14-bookworm@{A}", ImageRef("ghcr.io/cloudnative-pg/postgresql",
                                                                      "15.14-bookworm", A)),
    ("localhost:5000/team/app", ImageRef("localhost:5000/team/app", "latest")),
    ("registry.example:5000/app:1.0", ImageRef("registry.example:5000/app", "1.0")),
])
def test_a_reference_reads_as_a_container_runtime_reads_it(text: str, expected: ImageRef) -> None:
    assert parse_reference(text) == expected


def test_images_are_found_in_containers_clusters_and_chart_values() -> None:
    inputs = {
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.27"}],
                                       "initContainers": [{"name": "b", "image": f"busybox:1.36@{A}"}]}},
                 "imageName": "ghcr.io/cloudnative-pg/postgresql:15.14-bookworm"},
        "values": {"image": {"registry": "docker.io", "repository": "valkey/valkey", "tag": f"9.1.4@{B}"},
                   "exporter": {"image": {"repository": "ghcr.io/x/exporter", "tag": "1.0", "digest": A}},
                   "chartDefault": {"image": {"pullPolicy": "IfNotPresent"}},
                   "sidecarImage": {"registry": "ghcr.io", "repository": "cnpg/sidecar", "tag": "v1"}},
    }
    assert sorted(images_in(inputs)) == sorted([
        ImageRef("docker.io/library/nginx", "1.27"), ImageRef("docker.io/library/busybox", "1.36", A),
        ImageRef("ghcr.io/cloudnative-pg/postgresql", "15.14-bookworm"), ImageRef(VALKEY.repository, "9.1.4", B),
        ImageRef("ghcr.io/x/exporter", "1.0", A), ImageRef("ghcr.io/cnpg/sidecar", "v1")])
    assert image_object({"repository": "x"}) is None


# ---- the committed locks -------------------------------------------------------------------------------------


def test_vendor_lock_lists_exactly_the_vendor_images_the_stacks_deploy(stack_recording) -> None:
    images = [image for stack in ("dev", "prod") for image in deployed(stack_recording(stack))]
    expected = image_lock.vendor_entries(images, read_lock(VENDOR_LOCK), platform_repositories())
    assert VENDOR_LOCK.read_text() == render_lock(expected), "images/vendor.lock.json is stale; run `make image-lock`"


def test_every_recorded_digest_is_a_sha256() -> None:
    for path in (PLATFORM_LOCK, VENDOR_LOCK):
        for key, image in read_lock(path).items():
            assert image.digest == "" or DIGEST.match(image.digest), f"{path.name}: {key}"


def test_every_image_of_both_stacks_is_in_a_lock(stack_recording) -> None:
    locked = {image.key for path in (PLATFORM_LOCK, VENDOR_LOCK) for image in read_lock(path).values()}
    for stack in ("dev", "prod"):
        assert {image.key for image in deployed(stack_recording(stack))} - locked == set(), stack


# ---- the program deploys what the locks record -----------------------------------------------------------------


@pytest.fixture()
def every_digest_recorded(monkeypatch) -> None:
    """Both locks as CI leaves them once every image is built and resolved."""
    platform = {name: f"{image.key}@{A}" for name, image in read_lock(PLATFORM_LOCK).items()}
    vendor = {key: B for key in read_lock(VENDOR_LOCK)}
    monkeypatch.setattr(kit_images, "image_references", lambda *_args: dict(platform))
    monkeypatch.setattr(kit_images, "vendor_digests", lambda *_args: dict(vendor))
    monkeypatch.setattr("components.runtime.component.image_references", lambda *_args: dict(platform))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_with_every_digest_recorded_every_image_deployed_is_pinned(every_digest_recorded, stack: str) -> None:
    recording = run_stack(stack)
    images = deployed(recording)
    assert images and undigested(images) == []
    assert plan.digest_advisory(recording) is None


def test_a_vendor_image_carries_the_digest_its_tag_is_locked_to(monkeypatch) -> None:
    monkeypatch.setattr(kit_images, "vendor_digests", lambda *_args: {VALKEY.key: A})
    assert kit_images.pinned("valkey/valkey:9.1.4") == f"valkey/valkey:9.1.4@{A}"
    assert kit_images.pinned_tag("docker.io/valkey/valkey", "9.1.4") == f"9.1.4@{A}"
    assert kit_images.pinned("valkey/valkey:9.1.5") == "valkey/valkey:9.1.5"


# ---- make image-lock -----------------------------------------------------------------------------------------


def write_lock(path: Path, entries: dict[str, ImageRef]) -> None:
    path.write_text(render_lock(entries))


def test_sync_adds_new_tags_keeps_recorded_digests_and_drops_what_nothing_deploys(tmp_path: Path, capsys) -> None:
    lock, platform = tmp_path / "vendor.lock.json", tmp_path / "digests.lock.json"
    write_lock(platform, {"superset": ImageRef("ghcr.io/dataplatform/superset", "6.1.0")})
    retired = ImageRef("docker.io/library/redis", "7.2", A)
    write_lock(lock, {VALKEY.key: ImageRef(VALKEY.repository, VALKEY.tag, A), retired.key: retired})
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    images = [VALKEY, NGINX, NGINX, ImageRef("ghcr.io/dataplatform/superset", "6.1.0")]
    before = lock.read_text()
    assert image_lock.sync(True, lock, platform, tmp_path, collect=lambda _stack: images) == 1
    assert lock.read_text() == before
    assert capsys.readouterr().out.splitlines() == [
        f"vendor.lock.json: {NGINX.key} deployed but not locked",
        f"vendor.lock.json: {retired.key} locked but no stack deploys it"]
    assert image_lock.sync(False, lock, platform, tmp_path, collect=lambda _stack: images) == 0
    assert read_lock(lock) == {VALKEY.key: ImageRef(VALKEY.repository, VALKEY.tag, A), NGINX.key: NGINX}
    assert image_lock.sync(True, lock, platform, tmp_path, collect=lambda _stack: images) == 0


# ---- the registry workflow -----------------------------------------------------------------------------------


def registry(served: dict[str, str]):
    def lookup(reference: str) -> str:
        if reference in served:
            return served[reference]
        if "@" in reference and reference.split("@")[1] in served.values():
            return reference.split("@")[1]
        raise image_lock.RegistryError(f"{reference}: not found")
    return lookup


def test_resolve_fills_empty_digests_and_keeps_a_moved_tag_unless_asked() -> None:
    vendor = {VALKEY.key: VALKEY, NGINX.key: ImageRef(NGINX.repository, NGINX.tag, A)}
    served = registry({VALKEY.key: B, NGINX.key: B, f"{NGINX.repository}@{A}": A})
    resolved, lines, failures = image_lock.resolve(vendor, {}, refresh=False, lookup=served)
    assert failures == []
    assert resolved == {VALKEY.key: ImageRef(VALKEY.repository, VALKEY.tag, B), NGINX.key: vendor[NGINX.key]}
    assert lines == [f"{NGINX.key}: kept {A}; the tag now points to {B} (run with refresh to take it)",
                     f"{VALKEY.key}: {B} (new)"]
    resolved, _, _ = image_lock.resolve(vendor, {}, refresh=True, lookup=served)
    assert resolved[NGINX.key].digest == B


def test_a_tag_or_a_built_digest_the_registry_does_not_serve_fails_and_nothing_is_written(tmp_path: Path,
                                                                                          capsys) -> None:
    lock, platform = tmp_path / "vendor.lock.json", tmp_path / "digests.lock.json"
    write_lock(lock, {VALKEY.key: VALKEY, NGINX.key: NGINX})
    write_lock(platform, {"superset": ImageRef("ghcr.io/dataplatform/superset", "6.1.0", A),
                          "migrations": ImageRef("ghcr.io/dataplatform/migrations", "0.1.0")})
    before = lock.read_text()
    served = registry({VALKEY.key: B, "ghcr.io/dataplatform/superset:6.1.0": B})
    assert image_lock.main(["--lock", str(lock), "--platform-lock", str(platform), "resolve"], lookup=served) == 1
    assert lock.read_text() == before
    output = capsys.readouterr()
    assert output.err.splitlines() == ["not served:", f"  {NGINX.key}: not found",
                                       f"  superset: ghcr.io/dataplatform/superset@{A}: not found"]
    assert "migrations (ghcr.io/dataplatform/migrations:0.1.0): not built yet (images workflow)" in output.out
    served = registry({VALKEY.key: B, NGINX.key: A})
    write_lock(platform, {})
    assert image_lock.main(["--lock", str(lock), "--platform-lock", str(platform), "resolve"], lookup=served) == 0
    assert read_lock(lock) == {VALKEY.key: ImageRef(VALKEY.repository, VALKEY.tag, B),
                               NGINX.key: ImageRef(NGINX.repository, NGINX.tag, A)}


# ---- the offline plan's advisory and the prod deploy's refusal -------------------------------------------------


def plan_file(tmp_path: Path, images: list[str]) -> Path:
    resources = [{"urn": f"urn:{index}", "inputs": {"spec": {"containers": [{"image": image}]}}}
                 for index, image in enumerate(images)]
    path = tmp_path / "prod.json"
    path.write_text(json.dumps({"stack": "prod", "resources": resources}))
    return path


def test_prod_deploy_refuses_a_plan_with_an_image_without_digest(tmp_path: Path, capsys) -> None:
    path = plan_file(tmp_path, [f"valkey/valkey:9.1.4@{A}", "nginxinc/nginx-unprivileged:1.27-alpine"])
    assert image_lock.main(["require-digests", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "prod: 1 of 2 images have no digest, and this stack deploys only images pinned by digest (docs/locks.md):",
        f"  {NGINX.key}"]
    path = plan_file(tmp_path, [f"valkey/valkey:9.1.4@{A}"])
    assert image_lock.main(["require-digests", str(path)]) == 0
    assert capsys.readouterr().out == "prod: all 1 images are pinned by digest\n"
    assert image_lock.main(["require-digests", str(tmp_path / "absent.json")]) == 2


def test_the_committed_prod_plan_would_be_refused_until_ci_records_the_digests(stack_recording) -> None:
    advisory = plan.digest_advisory(stack_recording("prod"))
    locked = [image for path in (PLATFORM_LOCK, VENDOR_LOCK) for image in read_lock(path).values()]
    if not undigested(locked):
        pytest.skip("every digest is recorded")
    assert advisory is not None and advisory.startswith("images: ")
    assert "without a digest (advisory; the prod deploy refuses them, docs/locks.md): " in advisory
    assert "\n" not in advisory


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def step_index(steps: list[dict], needle: str) -> int:
    matches = [index for index, step in enumerate(steps) if needle in step.get("run", "") + step.get("uses", "")]
    assert len(matches) == 1, needle
    return matches[0]


def test_the_prod_deploy_refuses_images_without_digest_between_the_plan_and_the_update() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    steps = jobs["prod"]["steps"]
    refusal = step_index(steps, "infra.offline.image_lock require-digests")
    assert step_index(steps, "make plan") < refusal < step_index(steps, "pulumi/actions@")
    assert 'build/plan/$STACK.json' in steps[refusal]["run"] and jobs["prod"]["env"]["STACK"] == "prod"
    assert not [step for step in jobs["dev"]["steps"] if "require-digests" in step.get("run", "")]


def test_the_lock_workflow_resolves_in_the_registries_and_commits_the_vendor_lock() -> None:
    steps = workflow("image-lock.yml")["jobs"]["resolve"]["steps"]
    resolving = step_index(steps, "infra.offline.image_lock resolve")
    committing = step_index(steps, "git commit")
    assert resolving < committing
    assert "-- images/vendor.lock.json" in steps[committing]["run"]
    assert "docker buildx imagetools inspect" in Path(image_lock.__file__).read_text()
