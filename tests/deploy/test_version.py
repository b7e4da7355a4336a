"""One version, everywhere: settings.VERSION, the package metadata, --version (run.py and
the roundtable console script), /api/status and CHANGELOG.md."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

from settings import VERSION
from tests.service import ROOT, Service

CONSOLE_SCRIPT = Path(sys.prefix) / "bin" / "roundtable"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", "")})


def test_run_py_version_prints_the_version() -> None:
    result = run(sys.executable, "run.py", "--version")
    assert (result.returncode, result.stdout) == (0, f"roundtable {VERSION}\n")


def test_the_package_metadata_reads_the_same_version() -> None:
    assert importlib.metadata.version("roundtable") == VERSION


def test_the_console_script_takes_the_same_commands_as_run_py() -> None:
    assert run(str(CONSOLE_SCRIPT), "--version").stdout == f"roundtable {VERSION}\n"
    script_help = run(str(CONSOLE_SCRIPT), "--help").stdout
    run_help = run(sys.executable, "run.py", "--help").stdout
    assert script_help.startswith("usage: roundtable ") and run_help.startswith("usage: run.py ")
    # The same arguments (argparse wraps the usage lines to the program's name length).
    assert " ".join(script_help.split()[2:]) == " ".join(run_help.split()[2:])
    assert run(str(CONSOLE_SCRIPT), "env-example").stdout == run(sys.executable, "run.py", "env-example").stdout


def test_api_status_and_the_admin_page_say_the_version(tmp_path: Path) -> None:
    with Service(tmp_path) as service:
        status, body = service.get("/api/status")
        page_status, page = service.get("/control")
    assert status == 200 and body["version"] == VERSION
    assert page_status == 200 and f"<p class=\"rt-page-meta\" data-rt-version>Roundtable {VERSION}</p>" in page


def test_the_changelog_has_unreleased_and_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)
    assert headings[0] == "Unreleased" and VERSION in headings
    assert f"[{VERSION}]: " in text and "[Unreleased]: " in text  # link references
    assert "Keep a Changelog" in text
