"""Every relative link of README.md and docs/*.md leads somewhere: to a file or folder of the
repository and, with ``#anchor``, to a heading of that file (GitHub's anchors: the heading in lower
case, punctuation but ``-`` and ``_`` dropped, spaces as ``-``, a repeated heading numbered ``-1``,
``-2``, ...)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")  # [text](target), the text may hold `[...]`
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if match := re.match(r"#{1,6} (.+)", line):
            base = anchor(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), page.read_text(encoding="utf-8"))  # code keeps its line count
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in LINK.finditer(text)]


def test_github_anchors_as_github_writes_them():
    assert anchor("Selective prediction: `--risk-coverage`") == "selective-prediction---risk-coverage"
    assert anchor("Calibrated probabilities: `--calibrate` and `mtl-text calibrate`") == \
        "calibrated-probabilities---calibrate-and-mtl-text-calibrate"
    assert anchor("The [Hub](https://huggingface.co) and you") == "the-hub-and-you"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_and_anchor_exists(page):
    broken = []
    for line, target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not this repository's
            continue
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{page.name}:{line}: {target} (no such file)")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{page.name}:{line}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
