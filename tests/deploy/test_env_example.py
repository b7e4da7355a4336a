""".env.example is generated from settings.py, so it cannot drift: this test compares them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from actors.providers import registry
from settings import ENV_EXAMPLE_COMMAND, Settings, describe, env_example
from tests.service import ROOT

FIX = f"run `{ENV_EXAMPLE_COMMAND}` and commit the result"


def test_env_example_is_what_the_generator_prints() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == env_example(), f".env.example is out of date with settings.py: {FIX}"


def test_the_generator_is_the_command_its_header_names() -> None:
    printed = subprocess.run(
        [sys.executable, "run.py", "env-example"], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": os.environ.get("PATH", ""), "PORT": "not a port"},  # bad settings don't matter
        check=True, timeout=30,
    ).stdout
    assert printed == env_example()
    assert ENV_EXAMPLE_COMMAND in printed.splitlines()[2]


def test_every_setting_read_from_the_environment_is_listed_once_with_a_meaning() -> None:
    names = [entry.name for entry in describe()]
    assert len(names) == len(set(names))
    assert all(entry.doc.strip() for entry in describe())
    # Every upper-case name settings.py passes to a reader is in the list (the providers'
    # are built from f-strings, so they are checked by their suffixes).
    source = (ROOT / "settings.py").read_text()
    literal = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert literal and literal <= set(names)
    for suffix in re.findall(r'env\.\w+\(\s*f"\{prefix\}(_[A-Z_]+)"', source):
        assert {p.upper() + suffix for p in registry.names()} <= set(names)


def test_the_listed_defaults_are_the_defaults() -> None:
    """Uncommenting every line of .env.example gives the settings of an empty environment."""
    environ = dict(
        line[1:].split("=", 1) for line in env_example().splitlines()
        if re.match(r"^#[A-Z][A-Z0-9_]*=", line)
    )
    assert Settings.from_env(environ) == Settings.from_env({})
