"""The README and docs/ hold together: every relative link lands on a file (and a heading),
the README stays short, and its "Project layout" names every package and module there is.

The tree is read at test time, so adding a module without its line in the layout fails here.
"""

import fnmatch
import re
import unicodedata

import pytest

from tests.support.servers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text: str) -> str:
    """The page with fenced blocks and inline code removed: links there are not links."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    return re.sub(r"`[^`\n]*`", "", text)


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", re.sub(r"(?ms)^```.*?^```", "", page.read_text())):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


def relative_links():
    for page in PAGES:
        for target in LINK.findall(without_code(page.read_text())):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                yield pytest.param(page, target, id=f"{page.relative_to(ROOT)}:{target}")


@pytest.mark.parametrize(("page", "target"), list(relative_links()))
def test_relative_link_resolves(page, target):
    path, _, fragment = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    assert destination.exists(), f"{page.name} links to a missing {path}"
    if fragment:
        assert destination.suffix == ".md", target
        assert fragment in anchors(destination), f"{page.name}: no heading #{fragment} in {path or page.name}"


def test_pages_link_somewhere():
    """The link check has something to check: the README links to every docs page."""
    readme_links = {target.partition("#")[0] for target in LINK.findall(without_code(PAGES[0].read_text()))}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme_links, f"the README's map of the docs misses {page.name}"


def test_every_docs_page_says_what_it_is_for():
    for page in PAGES[1:]:
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[1] == "" and lines[2].startswith("This page"), page.name


def test_readme_is_short():
    assert len((ROOT / "README.md").read_bytes()) < 20_000


def layout_names() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Project layout\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"(?m)^\| `([^`]+)` \|", section)


def test_project_layout_names_every_package_and_module():
    names = layout_names()
    package = ROOT / "mongo_todos"
    wanted = []
    for path in [package, *sorted(package.rglob("*"))]:
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(ROOT).as_posix()
        if path.is_dir() and (path / "__init__.py").exists():
            wanted.append(relative + "/")
        elif path.suffix == ".py" and not (path.name == "__init__.py" and path.parent != package):
            wanted.append(relative)  # a subpackage's __init__ is its package's line
    assert "mongo_todos/" in wanted and "mongo_todos/store/documents.py" in wanted
    missing = [w for w in wanted if not any(w == n or fnmatch.fnmatch(w, n) for n in names)]
    assert not missing, f"README's Project layout has no line for {missing}"
