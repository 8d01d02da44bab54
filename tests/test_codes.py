"""The problem-code table (debugger/core/lint/codes.py) names exactly the codes the source can emit,
docs/problems.md is generated from it, and `segdbg check --explain` prints its entries."""

from __future__ import annotations

import ast

import orjson
from click.testing import CliRunner
from jsonschema import Draft7Validator, Draft202012Validator

from debugger.cli.group import cli
from debugger.core.fault import FAULT_CODE
from debugger.core.lint.codes import (
    CODES,
    CONSEQUENCES,
    SCHEMA_KEYWORDS,
    TABLE_CATEGORIES,
    close_codes,
    keyword_code,
    remedy,
)
from debugger.server.app import ServerThread
from tests import problems_reference
from tests.helpers import ROOT, http, run_segdbg
from tests.test_samples import TEMPLATED_CODES

#: Calls whose first argument is a code (Oversize's is its second).
EMITTERS = {"Problem": 0, "RequestError": 0, "error_body": 0, "Finding": 0, "_finding": 0, "Oversize": 1}
#: Codes built from a template, and what each expands to.
TEMPLATES = {**TEMPLATED_CODES, "reserved_{}_type": {"reserved_trait_type", "reserved_property_type"}}
#: Arguments that pass on a code made elsewhere (an exception's, a helper's parameter, a stored record's).
PASSTHROUGH = {"exc.code", "too_big.code", "record.code or 'rejected'", "finding.code"}
#: JSON Schema keywords that only descend into subschemas: the errors come from the keywords inside.
DESCEND_ONLY = {"$ref", "$dynamicRef", "if", "items", "prefixItems", "properties", "patternProperties"}
#: Keywords the plan checker reports under their own codes (anyOf reads as `type`; additionalProperties: false as
#: `unplanned_property`, a schema-valued one falls through to `additional_properties`).
OWN_CODES = {"required", "type", "anyOf", "enum", "format"}


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def emitted_codes() -> set[str]:
    """Every code the server and the linter can report, read from their source."""
    paths = [*sorted((ROOT / "debugger" / "core").rglob("*.py"))]
    paths += [ROOT / "debugger" / p for p in ("store/rows.py", "store/writer.py", "server/app.py")]
    codes: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or _name(node.func) not in EMITTERS:
                continue
            position = EMITTERS[str(_name(node.func))]
            if len(node.args) <= position:
                continue
            arg = node.args[position]
            where = path.relative_to(ROOT)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                codes.add(arg.value)
            elif isinstance(arg, ast.Constant):
                continue  # Oversize's status, Finding(...) built positionally elsewhere
            elif isinstance(arg, ast.JoinedStr):
                template = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values)
                assert template in TEMPLATES, f"{where}: new templated code {template!r}; list its expansions"
                codes |= TEMPLATES[template]
            elif ast.unparse(arg) == "FAULT_CODE":
                codes.add(FAULT_CODE)  # `serve --fault`'s one code, a named constant in core/fault.py
            elif ast.unparse(arg) == "code" and where.name == "checker.py":
                codes |= {keyword_code(k) for k in SCHEMA_KEYWORDS}
            elif ast.unparse(arg) == "code" and where.name in ("naming.py", "finding.py"):
                continue  # the helpers' own parameter: their callers pass constants, counted above
            else:
                assert ast.unparse(arg) in PASSTHROUGH, f"{where}: a code from {ast.unparse(arg)!r}; say what it is"
    return codes


def test_the_table_names_exactly_the_codes_the_source_emits() -> None:
    """A new code without a table entry fails, and so does an entry no code emits."""
    emitted = emitted_codes()
    assert emitted - set(CODES) == set(), "emitted but not in debugger/core/lint/codes.py"
    assert set(CODES) - emitted == set(), "in the table but nothing emits it"
    assert len(emitted) > 60


def test_the_schema_keyword_codes_are_every_keyword_that_reports_itself() -> None:
    """The plan checker names a violation after its JSON Schema keyword: the table lists each one that can."""
    keywords = set(Draft7Validator.VALIDATORS) | set(Draft202012Validator.VALIDATORS)
    assert set(SCHEMA_KEYWORDS) == keywords - DESCEND_ONLY - OWN_CODES


def test_every_entry_has_a_category_a_consequence_and_a_fix() -> None:
    for entry in CODES.values():
        assert entry.category in TABLE_CATEGORIES, entry.code
        assert entry.consequence in CONSEQUENCES, entry.code
        assert entry.summary.strip() and len(entry.fix) > 10, entry.code
    assert {e.category: e.consequence for e in CODES.values() if e.category in ("naming", "semantic")} == {
        "naming": "advisory",
        "semantic": "advisory",
    }


def test_the_fix_is_in_the_words_of_the_events_library_when_it_differs() -> None:
    assert "user_id=" in str(remedy("no_user_anon_id", "analytics-python"))
    assert "anonymousId itself" in str(remedy("no_user_anon_id", "analytics.js"))
    assert remedy("no_user_anon_id", "@segment/analytics-node") == CODES["no_user_anon_id"].libraries["analytics-node"]
    assert remedy("no_user_anon_id", "some-other-lib") == CODES["no_user_anon_id"].fix
    assert remedy("no_user_anon_id") == CODES["no_user_anon_id"].fix
    assert remedy("nonexistent") is None


def test_docs_problems_md_is_generated_from_the_table() -> None:
    """docs/problems.md lists every code (regenerate: python -m tests.problems_reference)."""
    text = problems_reference.PATH.read_text()
    assert text == problems_reference.render(), "stale: run python -m tests.problems_reference"
    for code in CODES:
        assert f"### {code}\n" in text


def test_check_explain_prints_the_entry() -> None:
    result = CliRunner().invoke(cli, ["check", "--explain", "traits_on_track"])
    assert result.exit_code == 0, result.output
    assert "traits_on_track  (strict, altered" in result.output
    assert "context.traits" in result.output
    assert "analytics-python: `analytics.track(user_id, event, properties, context={'traits'" in result.output


def test_check_explain_an_unknown_code_names_the_close_ones() -> None:
    result = CliRunner().invoke(cli, ["check", "--explain", "trait_on_track"])
    assert result.exit_code == 2
    assert "unknown problem code 'trait_on_track'" in result.output
    assert "traits_on_track" in result.output
    assert close_codes("no_user_anon")[0] == "no_user_anon_id"


def test_check_shows_each_codes_consequence_in_every_table_and_record(server: ServerThread) -> None:
    """The by-rule summary, the by-event table and the jsonl records all carry the consequence."""
    http(
        f"{server.url}/v1/batch",
        body={"writeKey": "wk", "batch": [{"type": "track", "event": "Order Completed", "traits": {"a": 1}}]},
    )
    db = str(server.settings.db)
    summary = run_segdbg("check", "--db", db, "--ignore", "naming", "--ignore", "semantic").stdout
    assert "✗ no_user_anon_id protocol dropped  ×1 in 1 event" in summary
    assert "⚠ traits_on_track strict altered  ×1 in 1 event" in summary
    table = run_segdbg("check", "--db", db, "--all-findings").stdout
    assert "no_user_anon_id protocol dropped  userId" in table
    records = [orjson.loads(line) for line in run_segdbg("check", "--db", db, "--format", "jsonl").stdout.splitlines()]
    assert {(r["properties"]["violationCode"], r["properties"]["consequence"]) for r in records} >= {
        ("no_user_anon_id", "dropped"),
        ("traits_on_track", "altered"),
    }
