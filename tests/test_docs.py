"""The docs stand alone and stay true: the README is a front door, docs/cli.md is the CLI's own --help,
every citation in the code and every link in the docs resolves to a file (and section) in this repository."""

from __future__ import annotations

import re
from pathlib import Path

from debugger.cli.group import COMMANDS
from tests import cli_reference
from tests.helpers import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: `docs/protocol.md §4.3`, `docs/protocol.md §1.2, §1.5`, `docs/protocol.md §1–§3`, `docs/capture.md`.
CITATION = re.compile(r"docs/([\w-]+)\.md((?:,?\s*§\d+(?:\.\d+)?(?:–§\d+(?:\.\d+)?)?)*)")
#: A document named by its upper-case file name: README.md, CHANGELOG.md.
DOCUMENT = re.compile(r"\b[A-Z][A-Z_]+\.md\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _sources() -> list[Path]:
    """Everything that may cite the docs: code, tests, bench scripts, the sample README."""
    found = [p for d in ("debugger", "tests", "bench") for p in (ROOT / d).rglob("*.py")]
    found = [p for p in found if p.name != "test_docs.py"]  # its patterns spell citations without being one
    return [*found, ROOT / "sample_events" / "README.md", ROOT / "pyproject.toml", ROOT / ".ci" / "run"]


def _documents() -> set[str]:
    """The file names of this repository's Markdown documents (the top level's own, not .venv's or
    node_modules')."""
    places = [DOCS, ROOT / "tests" / "fixtures", ROOT / "sample_events"]
    return {p.name for p in ROOT.glob("*.md")} | {p.name for place in places for p in place.rglob("*.md")}


def _sections(doc: Path) -> set[str]:
    """The section numbers of a doc's headings (``## 4. Message schema`` → ``4``, ``### 4.3 ...`` → ``4.3``)."""
    return {m.group(1) for m in re.finditer(r"^#+\s+(\d+(?:\.\d+)?)\.?\s", doc.read_text(), re.M)}


def test_the_cli_reference_is_the_clis_own_help() -> None:
    """docs/cli.md is every command's --help as the CLI prints it (regenerate: python -m tests.cli_reference)."""
    assert cli_reference.PATH.read_text() == cli_reference.render(), "stale: run python -m tests.cli_reference"


def test_every_citation_resolves_to_a_file_and_section_in_the_repo() -> None:
    """Code cites docs/<page>.md (and its numbered sections), never documents outside the repository."""
    missing: list[str] = []
    cited = 0
    documents = _documents()
    for path in _sources():
        text = path.read_text()
        where = path.relative_to(ROOT)
        # A document named by file (README.md, CHANGELOG.md, ...) is one this repository has.
        for name in set(DOCUMENT.findall(text)) - documents:
            missing.append(f"{where}: names {name}, which is not in the repository")
        spans = [m.span() for m in CITATION.finditer(text)]
        # A section sign belongs to a citation of a page of docs/, never to a document elsewhere.
        for sign in re.finditer("§", text):
            if not any(start <= sign.start() < end for start, end in spans):
                line = text.count("\n", 0, sign.start()) + 1
                missing.append(f"{where}:{line}: a § that is not part of a docs/<page>.md citation")
        for match in CITATION.finditer(text):
            cited += 1
            doc = DOCS / f"{match.group(1)}.md"
            if not doc.is_file():
                missing.append(f"{where}: {match.group(0)} (no such file)")
                continue
            sections = _sections(doc)
            for number in re.findall(r"§(\d+(?:\.\d+)?)", match.group(2)):
                if number not in sections:
                    missing.append(f"{where}: {doc.name} has no section {number}")
    assert missing == []
    assert cited > 40  # the code does cite them


def test_every_link_in_the_docs_resolves() -> None:
    """Relative links in the README and docs/ point at files that exist."""
    broken = []
    for page in [README, *DOCS.rglob("*.md")]:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_readme_is_a_front_door() -> None:
    """At most 200 lines, starting with the two Quickstart commands; one line per command; the docs index."""
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    quickstart = text.split("## Quickstart", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert quickstart == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/segdbg serve",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && npm ci --prefix tests/node && .venv/bin/python -m pytest",
    ]
    for name in COMMANDS:
        assert f"| `segdbg {name}" in text, name
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert f"(docs/{page.name})" in text, page.name


def test_the_tui_picture_is_the_current_snapshot() -> None:
    """The README's picture of the TUI is the snapshot test's own SVG, so it cannot drift from the app."""
    snapshot = ROOT / "tests" / "__snapshots__" / "test_snapshots" / "test_stream_with_pretty.svg"
    assert (DOCS / "images" / "tui.svg").read_bytes() == snapshot.read_bytes()


def test_serve_help_the_readme_and_security_md_agree_about_binding_all_interfaces() -> None:
    """`--host 0.0.0.0` needs --allow-remote, prints the LAN URL, and opens sending, not reading (the API refuses
    other machines' connections): said alike in `serve --help`, the README and docs/security.md."""
    serve = cli_reference.render().split("## segdbg serve", 1)[1].split("\n## ", 1)[0]
    texts = {"serve --help": serve, "README.md": README.read_text(), "security.md": (DOCS / "security.md").read_text()}
    for where, text in texts.items():
        flat = " ".join(text.split())
        for claim in (
            "--host 0.0.0.0 --allow-remote",
            "prints the LAN URL to use",
            "anything on your network can send events, while the debugger API (read, reset) still answers only this machine",
        ):
            assert claim in flat, (where, claim)
        assert "read and reset the capture" not in flat, where
