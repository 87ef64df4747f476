"""The lock files pin what a fresh install gets: they agree with pyproject.toml's ranges, the
runtime set is the test set's subset at the same versions, every pin is hash-checked, and the
environment running these tests holds exactly the locked versions (so a green run here is a
green run on any fresh machine). `scripts/lock` rewrites them."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)(?: ; ([^\\\n]+?))?\s*\\")


def _entries(lock: str) -> set[tuple[str, str, str]]:
    """(name, version, environment marker) of every pin; a universal lock may pin one package
    twice, for different Python versions or platforms."""
    text = (ROOT / "requirements" / lock).read_text()
    entries = set()
    for block in re.split(r"\n(?=\S)", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{lock}: {match[1]} has no hash"
            entries.add((canonicalize_name(match[1]), match[2], match[3] or ""))
    return entries


def _pins(lock: str) -> dict[str, str]:
    """The pins that apply to this interpreter and platform."""
    return {
        name: version for name, version, marker in _entries(lock)
        if not marker or Marker(marker).evaluate()
    }


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


RUNTIME = [Requirement(r) for r in _project()["dependencies"]]
TEST = [Requirement(r) for r in _project()["optional-dependencies"]["test"]]


@pytest.mark.parametrize(
    "lock, requirements", [("runtime.txt", RUNTIME), ("test.txt", RUNTIME + TEST)]
)
def test_lock_satisfies_every_range_of_pyproject(lock, requirements):
    pins = _pins(lock)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {name}: run scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement}: run scripts/lock"
        )


def test_runtime_lock_is_the_test_lock_subset_at_the_same_versions():
    runtime, test = _entries("runtime.txt"), _entries("test.txt")
    assert runtime, "runtime.txt pins nothing"
    assert runtime - test == set()


def test_this_environment_holds_the_locked_versions():
    mismatched = {}
    for name, version in _pins("test.txt").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            mismatched[name] = (installed, version)
    assert mismatched == {}, "installed != locked; scripts/test reinstalls from the lock"
