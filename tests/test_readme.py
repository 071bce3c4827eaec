"""The README's Quickstart stays true: two commands, the test one is what CI runs."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quickstart_has_exactly_two_one_line_commands():
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert all(c.startswith("pip install -c constraints.txt") for c in commands)


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(c for c in _quickstart_commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_main_command_uses_the_installed_console_script():
    main_command = next(c for c in _quickstart_commands() if "pytest" not in c)
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"]
    assert "symsim = symsim_widgets.cli:main" in scripts
    assert main_command.endswith("&& symsim demo")


def test_constraints_pin_torch_and_torchvision_with_reasons():
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    assert "torch==2.13.0" in lines and "torchvision==0.28.0" in lines
    for pin in ("torch==2.13.0", "torchvision==0.28.0"):
        before = lines[: lines.index(pin)]
        assert before and before[-1].startswith("#"), f"{pin} has no reason beside it"
