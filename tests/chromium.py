"""Headless Chromium for the browser tests (Debian's ``chromium``; ``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def launch(url: str, profile: Path, *resolver_rules: str, extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Open ``url`` in a headless Chromium of its own profile and process group (stop it with
    ``os.killpg(browser.pid, signal.SIGKILL)``); ``resolver_rules`` become ``--host-resolver-rules``;
    ``extra`` flags are added as given (e.g. ``--proxy-server``)."""
    assert os.path.exists(CHROMIUM), "headless Chromium is needed: apt-get install chromium (.ci/run does)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    if resolver_rules:
        flags.append(f"--host-resolver-rules={', '.join(resolver_rules)}")
    flags.extend(extra)
    return subprocess.Popen(
        [CHROMIUM, *flags, url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
