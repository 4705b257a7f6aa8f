"""Project files that must agree with each other: dependencies, CI and README commands."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEV_ONLY = {"pytest", "pytest-xdist", "ruff"}  # tools for tests and lint, not imported by the package
GPU_ONLY = {"python", "pip", "torchvision"}  # the conda toolchain and the optional MNIST downloader
UNPINNED_OK = {"pip"}
OPTIONAL_IMPORTS = {"torchvision"}  # imported inside try/except by shared/data.py (download only)
CONDA_TO_PIP = {"pytorch": "torch"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:(==|>=|=)\s*([^\s;,]+))?\s*$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(entry: str, where: str) -> tuple[str, str | None, str | None]:
    m = REQUIREMENT.match(entry)
    assert m, f"{where}: cannot read {entry!r} (expected name==version)"
    name, op, version = m.groups()
    return _norm(CONDA_TO_PIP.get(name.lower(), name)), op, version


def _requirement_lines(path: Path) -> list[tuple[Path, str]]:
    """Non-comment lines of a requirements file, with `-r other.txt` expanded (relative to it)."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            out += _requirement_lines(path.parent / line.split(None, 1)[1].strip())
        else:
            out.append((path, line))
    return out


def _pins(entries: list[tuple[str, str]]) -> dict[str, str | None]:
    """name -> pinned version (None when unpinned); a name given twice is an error."""
    pins: dict[str, str | None] = {}
    for where, entry in entries:
        name, op, version = _parse(entry, where)
        assert name not in pins, f"{name} is listed twice ({where})"
        assert op in (None, "==", "="), f"{where}: {entry!r} is not an exact pin"
        pins[name] = version
    return pins


def _requirements() -> dict[str, str | None]:
    return _pins([(str(p.name), line) for p, line in _requirement_lines(ROOT / "requirements.txt")])


def _environment() -> dict[str, str | None]:
    """Every package environment.yml installs, conda's and pip's (a `-r` file read in full)."""
    env_file = ROOT / "environment.yml"
    spec = yaml.safe_load(env_file.read_text())
    entries: list[tuple[str, str]] = []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith(("-r ", "--requirement ")):
                    # conda runs pip beside environment.yml, so the path is relative to it
                    target = env_file.parent / line.split(None, 1)[1].strip()
                    entries += [(f"{p.name} (via environment.yml)", x) for p, x in _requirement_lines(target)]
                else:
                    entries.append(("environment.yml pip:", line))
        else:
            entries.append(("environment.yml", str(dep)))
    return _pins(entries)


def test_requirements_pin_every_package_exactly():
    unpinned = [name for name, version in _requirements().items() if version is None]
    assert not unpinned, f"requirements.txt must pin (==) every package: {unpinned}"


def test_environment_installs_the_requirements_pins():
    """The GPU environment runs the stack CI tests: the same package set, every version equal."""
    pip, env = _requirements(), _environment()
    missing = sorted(set(pip) - set(env))
    differ = {n: (pip[n], env[n]) for n in sorted(set(pip) & set(env)) if pip[n] != env[n]}
    extra = sorted(set(env) - set(pip) - GPU_ONLY)
    unpinned = sorted(n for n, v in env.items() if v is None and n not in UNPINNED_OK)
    assert not missing, f"in requirements.txt but not installed by environment.yml: {missing}"
    assert not differ, f"pins differ (requirements.txt, environment.yml): {differ}"
    assert not extra, f"only in environment.yml (not a GPU-only extra): {extra}"
    assert not unpinned, f"environment.yml leaves these unpinned: {unpinned}"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _check_compatible(declared: list[str], where: str) -> set[str]:
    """Each entry is `name==pin` or `name>=pin` with requirements.txt's pin; returns the names."""
    pins, names = _requirements(), set()
    for entry in declared:
        name, op, version = _parse(entry, where)
        assert name in pins, f"{where}: {name} is not in requirements.txt"
        assert op in ("==", ">=") and version == pins[name], (
            f"{where}: {entry!r} should be =={pins[name]} or >={pins[name]} (the requirements.txt pin)"
        )
        names.add(name)
    return names


def test_pyproject_declares_the_runtime_requirements():
    runtime = set(_requirements()) - DEV_ONLY
    declared = _check_compatible(_pyproject()["dependencies"], "pyproject [project] dependencies")
    assert declared == runtime, (
        f"only in requirements.txt: {sorted(runtime - declared)}; "
        f"only in pyproject.toml: {sorted(declared - runtime)}"
    )


def test_pyproject_dev_extra_holds_the_dev_tools():
    dev = _check_compatible(_pyproject()["optional-dependencies"]["dev"], "pyproject [dev] extra")
    assert dev == DEV_ONLY


def _third_party_imports() -> dict[str, str]:
    """Top-level module -> first file importing it, for every import in shared/ and tools/."""
    found: dict[str, str] = {}
    local = {"shared", "tools"}
    for path in sorted([*ROOT.glob("shared/**/*.py"), *ROOT.glob("tools/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in local | OPTIONAL_IMPORTS or top == "__future__":
                    continue
                found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared():
    declared = {_parse(e, "pyproject")[0] for e in _pyproject()["dependencies"]}
    dists = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _third_party_imports().items():
        owners = {_norm(d) for d in dists.get(module, [module])}
        if not owners & declared:
            undeclared[module] = where
    assert not undeclared, f"imported but not in pyproject dependencies / requirements.txt: {undeclared}"


def test_cpu_path_pins_the_local_torch():
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    test_command = next(c.strip() for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()
