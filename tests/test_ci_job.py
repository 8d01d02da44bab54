"""docs/ci.md, "A complete CI job": its commands, taken from the document as written, pass on a good run
and each gate fails (exit 3) with its evidence when the app regresses. Real parts: a real server on
loopback, the real segment-analytics-python client, the CLI as a subprocess."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from segment.analytics import Client

from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import ROOT, run_segdbg

PLAN = """\
name: Shop
events:
  Product Added:
    properties:
      sku: string
  Checkout Started: {}
  Order Completed:
    properties:
      total: number
      currency: string
"""


def job_gates() -> list[list[str]]:
    """The `segdbg` gate commands (steps 2 to 5) of the job in docs/ci.md, as argument lists."""
    text = (ROOT / "docs" / "ci.md").read_text()
    job = text.split("## A complete CI job", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    lines = job.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped == "- run: >-":  # a folded block: the indented lines below, joined
            block = []
            for follow in lines[index + 1 :]:
                if not follow.startswith(" " * 10):
                    break
                block.append(follow.strip())
            commands.append(" ".join(block))
        elif stripped.startswith("- run: segdbg") and "serve" not in stripped:
            commands.append(re.sub(r"\s+#.*$", "", stripped.removeprefix("- run: ")))
    return [shlex.split(c)[1:] for c in commands]


def _shop(url: str, key: str, user: str, *, steps: tuple[str, ...], currency: bool = True) -> None:
    client = Client(key, host=url, sync_mode=True)
    for step in steps:
        properties: dict[str, object] = {"sku": "45790-32"} if step == "Product Added" else {}
        if step == "Order Completed":
            properties = {"total": 120.5, **({"currency": "EUR"} if currency else {})}
        client.track(user_id=user, event=step, properties=properties)
    client.flush()


FUNNEL = ("Product Added", "Checkout Started", "Order Completed")


def test_the_documented_ci_job_passes_on_a_good_run_and_each_gate_fails_with_evidence(tmp_path: Path) -> None:
    gates = job_gates()
    assert [g[0] for g in gates] == ["expect", "expect", "check", "diff"], gates
    (tmp_path / "tracking-plan.yaml").write_text(PLAN)
    with ServerThread(Settings(db=tmp_path / "ci.db", port=0)) as server:
        _shop(server.url, "web-test", "user_1", steps=FUNNEL)
    shutil.copy(tmp_path / "ci.db", tmp_path / "baseline.db")  # the last release's capture: the same calls
    for gate in gates:
        result = run_segdbg(*gate, cwd=tmp_path, timeout=120)
        assert result.returncode == 0, (gate, result.stdout + result.stderr)
    (tmp_path / "ci.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"ci.db{suffix}").unlink(missing_ok=True)
    # A regressed build: checkout before the product, no currency, a request refused whole.
    with ServerThread(Settings(db=tmp_path / "ci.db", port=0)) as server:
        _shop(
            server.url,
            "web-test",
            "user_2",
            steps=("Checkout Started", "Product Added", "Order Completed"),
            currency=False,
        )
        # A real client cannot send broken JSON; a hand-written curl, a proxy cutting the body can:
        run_segdbg("send", str(ROOT / "sample_events" / "invalid" / "invalid-json.json"), "--to", server.url)
    sequence, clean, coverage, schema = (
        run_segdbg(*g, "--timeout", "1", cwd=tmp_path)
        if g[0] == "expect"
        else run_segdbg(*g, cwd=tmp_path, timeout=120)
        for g in gates
    )
    assert sequence.returncode == 3 and "user_2" in sequence.stderr and "came before" in sequence.stderr
    assert clean.returncode == 3 and "400 invalid_json" in clean.stderr
    assert coverage.returncode == 3 and "Order Completed" in coverage.stdout + coverage.stderr
    assert (tmp_path / "plan-coverage.xml").read_text().count("<testcase") == 3
    assert schema.returncode == 3 and "properties.currency" in schema.stdout + schema.stderr
