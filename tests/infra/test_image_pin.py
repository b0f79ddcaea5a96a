"""`make image-pin` (infra/offline/image_pin.py): a vendor tag moves where the program pins it, and only there."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from infra.offline import image_pin
from infra.offline.image_pin import PinError, move

ROOT = Path(__file__).resolve().parents[2]


def program(root: Path) -> Counter[str]:
    """A stand-in for planning the stacks: `deploy("<reference>")` calls, and `image_of("<repository>", <NAME>)` of
    a tag constant, with an optional suffix (`image_of("...", NAME, "-alpine")`)."""
    text = "\n".join(path.read_text() for path in sorted((root / "components").rglob("*.py")))
    constants = dict(re.findall(r'^(\w+) = "([^"]*)"', text, re.MULTILINE))
    deployed: Counter[str] = Counter()
    for reference in re.findall(r'deploy\("([^"]+)"\)', text):
        deployed[reference] += 1
    for repository, name, suffix in re.findall(r'image_of\("([^"]+)", (\w+)(?:, "([^"]*)")?\)', text):
        deployed[f"{repository}:{constants[name]}{suffix}"] += 1
    return deployed


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path, "components/cache.py", 'UNRELATED = "9.1.4"\nVALKEY_TAG = "9.1.4"\n'
                                            'image_of("docker.io/valkey/valkey", VALKEY_TAG)\n')
    write(tmp_path, "components/db.py", 'deploy("ghcr.io/cloudnative-pg/postgresql:15.14-bookworm")\n'
                                         'deploy("ghcr.io/cloudnative-pg/postgresql:15.14-bookworm")\n')
    write(tmp_path, "components/dremio.py", 'DREMIO = "26.0.0"\nimage_of("docker.io/dremio/dremio-oss", DREMIO)\n'
                                             'image_of("quay.io/dremio/dremio-enterprise", DREMIO)\n')
    write(tmp_path, "infra/offline/tool.py", '"ghcr.io/cloudnative-pg/postgresql:15.14-bookworm"\n')
    return tmp_path


def quiet(_: str) -> None:
    return None


def test_moves_a_reference_everywhere_it_is_deployed(tree: Path) -> None:
    changed = move(tree, "ghcr.io/cloudnative-pg/postgresql", "15.14-bookworm", "15.15-bookworm", program, quiet)
    assert changed == ["components/db.py:1: 'ghcr.io/cloudnative-pg/postgresql:15.14-bookworm'",
                       "components/db.py:2: 'ghcr.io/cloudnative-pg/postgresql:15.14-bookworm'"]
    assert program(tree)["ghcr.io/cloudnative-pg/postgresql:15.15-bookworm"] == 2
    # The offline tooling is never a pin.
    assert "15.14-bookworm" in (tree / "infra/offline/tool.py").read_text()


def test_a_bare_tag_that_deploys_nothing_is_put_back(tree: Path) -> None:
    """`UNRELATED` holds the same text as the Valkey tag but deploys nothing: it is tried and left as it was."""
    changed = move(tree, "valkey/valkey", "9.1.4", "9.1.5", program, quiet)
    assert changed == ["components/cache.py:2: '9.1.4'"]
    assert (tree / "components/cache.py").read_text().startswith('UNRELATED = "9.1.4"\nVALKEY_TAG = "9.1.5"\n')


def test_a_shared_setting_moves_its_sibling_image_to_the_same_tag(tree: Path) -> None:
    move(tree, "docker.io/dremio/dremio-oss", "26.0.0", "26.1.0", program, quiet)
    assert program(tree) == Counter({"docker.io/valkey/valkey:9.1.4": 1, "docker.io/dremio/dremio-oss:26.1.0": 1,
                                     "quay.io/dremio/dremio-enterprise:26.1.0": 1,
                                     "ghcr.io/cloudnative-pg/postgresql:15.14-bookworm": 2})


def test_a_candidate_that_moves_another_image_elsewhere_is_refused(tree: Path) -> None:
    """A literal that also sets another image's different tag is not this image's pin alone: it is put back."""
    write(tree, "components/shared.py", 'TAG = "2.0"\nimage_of("docker.io/library/nginx", TAG)\n'
                                         'image_of("docker.io/library/redis", TAG, "-alpine")\n')
    with pytest.raises(PinError, match=r"still deploy docker\.io/library/nginx:2\.0 .*components/shared\.py:1: '2\.0'"):
        move(tree, "nginx", "2.0", "2.1", program, quiet)
    assert (tree / "components/shared.py").read_text().startswith('TAG = "2.0"\n')


def test_already_moved_is_done_and_unknown_is_an_error(tree: Path) -> None:
    move(tree, "docker.io/valkey/valkey", "9.1.4", "9.1.5", program, quiet)
    before = {path: path.read_text() for path in tree.rglob("*.py")}
    assert move(tree, "docker.io/valkey/valkey", "9.1.4", "9.1.5", program, quiet) == []
    assert {path: path.read_text() for path in tree.rglob("*.py")} == before
    with pytest.raises(PinError, match=r"no stack deploys docker\.io/valkey/valkey:8\.0"):
        move(tree, "docker.io/valkey/valkey", "8.0", "9.0", program, quiet)


def test_command_line_refuses_what_is_not_a_tag(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert image_pin.main(["docker.io/valkey/valkey", "9.1.4", "9.1.5;id", "--root", str(tree)]) == 2
    assert "not an image tag" in capsys.readouterr().err


def test_moves_the_real_programs_pin(tmp_path: Path) -> None:
    """On a copy of this repository: the real stacks planned under mocks, the Valkey tag moved in its component."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for relative in filter(None, tracked.decode().split("\0")):
        source = ROOT / relative
        if source.is_file():
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp_path / relative)
    assert image_pin.main(["docker.io/valkey/valkey", "9.1.4", "9.1.5", "--root", str(tmp_path)]) == 0
    changed = [relative for relative in filter(None, tracked.decode().split("\0"))
               if (ROOT / relative).is_file() and (ROOT / relative).read_bytes() != (tmp_path / relative).read_bytes()]
    assert changed == ["components/presentation/cache.py"]
    assert image_pin.collect_deployed(tmp_path)["docker.io/valkey/valkey:9.1.5"] > 0
