"""docs/problems.md: every problem code, generated from the table in :mod:`debugger.core.lint.codes`.

``python -m tests.problems_reference`` rewrites the file; ``tests/test_codes.py`` fails when it is stale.
"""

from __future__ import annotations

from debugger.core.lint.codes import CODES, CONSEQUENCE_TEXT, CONSEQUENCES, TABLE_CATEGORIES
from tests.helpers import ROOT

PATH = ROOT / "docs" / "problems.md"

HEADER = """# Problem codes

Every code segdbg can report: the request refusals and message problems of ingest
([protocol.md](protocol.md)), and the linter's strict, plan, semantic and naming rules
([tracking-plans.md](tracking-plans.md)). Generated from `debugger/core/lint/codes.py` by
`python -m tests.problems_reference` (`tests/test_codes.py` fails when this file, the table and the
code that emits the codes disagree). `segdbg check --explain CODE` prints one entry; the TUI's Problems
tab shows each finding's consequence and fix, in the words of the event's library when the fix differs;
a validating request ([protocol.md, section 14](protocol.md#14-validating-answers-debug-mode)) answers with the same codes.

**Consequence**, what Segment would do with the event:
"""

TITLES = {
    "request": "Requests refused whole",
    "protocol": "Message problems found at ingest",
    "strict": "Strict mode: accepted, then dropped or mangled downstream",
    "plan": "Tracking plan",
    "semantic": "Segment Spec (semantic events)",
    "naming": "Naming conventions",
}


def render() -> str:
    """The whole of docs/problems.md."""
    parts = [HEADER, *(f"- `{c}`: {CONSEQUENCE_TEXT[c]}." for c in CONSEQUENCES), ""]
    for category in TABLE_CATEGORIES:
        entries = [e for e in CODES.values() if e.category == category]
        parts.append(f"## {TITLES[category]}\n")
        parts.append("| code | consequence | what it means |")
        parts.append("|---|---|---|")
        parts += [f"| [`{e.code}`](#{e.code}) | {e.consequence} | {e.summary.replace('|', '∣')} |" for e in entries]
        parts.append("")
        for e in entries:
            parts.append(f"### {e.code}\n")
            parts.append(f"*{e.category}, {e.consequence}.* {e.summary}\n")
            parts.append(f"**Fix.** {e.fix}\n")
            for lib, text in e.libraries.items():
                parts.append(f"- **{lib}**: {text}")
            if e.libraries:
                parts.append("")
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {PATH.relative_to(ROOT)}")
