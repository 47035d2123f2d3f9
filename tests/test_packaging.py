"""Packaging: one set of dependencies in pyproject.toml and environment.yml; a light import."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course.paths import ROOT



def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():  # lab, test, site
        wanted |= {_name(r) for r in extra}
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


@pytest.mark.slow   # builds a wheel (seconds of setuptools)
def test_the_wheel_students_install_holds_no_hidden_test_or_reference(tmp_path):
    """``pip wheel .``: nothing of ``hidden_tests/`` (hidden cases, reference loops) and no
    solution notebook is in what students install."""
    import ast
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("dlcourse-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        texts = {n: z.read(n).decode("utf-8", "replace") for n in names if n.endswith((".py", ".json", ".txt"))}
    assert any(n.startswith("course/grading/") for n in names), names    # the checks are in it...
    assert not [n for n in names if "hidden_tests" in n or "solutions" in n or n.endswith(".ipynb")], names
    from course.grading import ASSIGNMENTS

    secrets, per_assignment = set(), {}
    for path in (ROOT / "hidden_tests").glob("*.py"):
        tree = ast.parse(path.read_text())
        mine = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):   # a reference: its code, line by line
                body = ast.get_source_segment(path.read_text(), node).splitlines()[1:]
                mine |= {line.strip() for line in body if len(line.strip()) >= 30 and '"""' not in line}
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
                mine.add(ast.get_source_segment(path.read_text(), node.value))
        per_assignment[path.stem] = len(mine)
        secrets |= mine
    assert len(secrets) >= 10
    assert all(per_assignment.get(a, 0) > 0 for a in ASSIGNMENTS), per_assignment   # A1 ... A5 each
    leaks = sorted({s for s in secrets for text in texts.values() if s in text})
    assert leaks == [], f"hidden tests in the wheel: {leaks}"      # ...but no hidden case or reference

    # Installed without the checkout (as in Colab): the helpers and the GitHub address work, and a
    # command that needs the lessons says that it needs a checkout.
    assert {"course/repository.json", "course/kernels/dlcourse-grading/kernel.json"} <= set(names)
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    env = {"PYTHONPATH": str(site), "PATH": str(Path(sys.executable).parent)}
    code = "import course, course.paths as p; print(course.__file__, p.GITHUB_REPO)"
    where, repo = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
    assert Path(where).resolve().is_relative_to(site.resolve()) and repo.count("/") == 1, (where, repo)
    for command in (["lint"], ["release"]):
        proc = subprocess.run([sys.executable, "-m", "course", *command], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "needs a checkout of the course repository" in proc.stderr, proc.stderr
