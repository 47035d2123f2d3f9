"""Packaging: one set of dependencies in pyproject.toml and environment.yml; a light import."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in ("lab", "test"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    env = (ROOT / "environment.yml").read_text()
    pip_section = env.split("- pip:", 1)[1]
    pinned = re.findall(r"^\s+-\s+([A-Za-z0-9_.-]+)==", pip_section, flags=re.M)
    assert {p.lower() for p in pinned} == wanted
    assert re.search(r"^\s+-\s+-e \.$", pip_section, flags=re.M), "environment.yml must install the course"


def test_requirements_in_pyproject_are_loose():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    everything = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    assert not [r for r in everything if "==" in r], "pin versions only in environment.yml"


def test_import_course_is_light():
    code = "import sys, course; print(any(m in sys.modules for m in ('torch', 'matplotlib', 'pandas')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_readme_quick_start_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make lab" in quick and "make test" in quick
    assert "make test" in (ROOT / ".ci" / "run").read_text()
