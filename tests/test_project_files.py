"""Project files that must agree with each other: dependencies, CI and README commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_ONLY = {"python", "pip", "pytorch-cuda", "torchvision"}  # GPU extras / the toolchain itself
CONDA_TO_PIP = {"pytorch": "torch"}


def _pip_names() -> set[str]:
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[=<>!~\[]", line)[0].strip().lower())
    return names


def _conda_names() -> set[str]:
    names = set()
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line.split("#")[0])
        if m and m.group(1) not in ("pip:",):
            name = re.split(r"[=<>!~]", m.group(1))[0].lower()
            names.add(CONDA_TO_PIP.get(name, name))
    return names - CONDA_ONLY - {"pytorch", "nvidia", "conda-forge"}


def test_requirements_and_environment_list_the_same_packages():
    pip, conda = _pip_names(), _conda_names()
    assert pip == conda, f"only in requirements.txt: {pip - conda}; only in environment.yml: {conda - pip}"


def test_cpu_path_pins_the_local_torch():
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    test_command = next(c.strip() for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()
