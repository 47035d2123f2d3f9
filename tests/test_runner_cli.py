"""The notebook runner and the `course` command line."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from course import cli, notebooks, paths, runner
from course.paths import ROOT



def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("SMOKE = False\nDEVICE = 'auto'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def two_notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nbs")
    good = _notebook(folder / "good.ipynb",
                     "import os, time, course\nassert SMOKE is True\ntime.sleep(2)  # finishes last\n"
                     "course.record(test_acc=0.75, device=DEVICE,\n"
                     "              course_device=os.environ.get('COURSE_DEVICE', 'unset'))")
    bad = _notebook(folder / "bad.ipynb", "x = 1\nraise ValueError('broken on purpose')")
    return good, bad


@pytest.mark.notebook
def test_cli_run_table_files_and_exit_code(two_notebooks, tmp_path, capsys, monkeypatch, patched_checksums):
    """Two notebooks in parallel (--jobs 2): the table keeps the order given, although the first
    finishes last; the device reaches the kernel only as the DEVICE parameter."""
    good, bad = two_notebooks
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    code = cli.main(["run", str(good), str(bad), "--smoke", "--device", "cpu", "--out", str(tmp_path),
                     "--jobs", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "bad.ipynb failed in cell 2" in out and "ValueError: broken on purpose" in out
    assert out.index("bad.ipynb (") < out.index("good.ipynb (")  # finished first ...
    assert "1 notebook(s) failed" in err and "bad.ipynb" in err
    assert "stand-in" not in out  # every dataset is in the (stand-in) cache: nothing to prepare
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table.columns) == ["notebook", "status", "seconds", "metrics"]
    assert table.status.tolist() == ["ok", "FAILED"]  # ... but the table keeps the order given
    assert table.notebook.tolist() == [str(good), str(bad)]
    assert sorted(table.metrics[0].split(", ")) == ["course_device=unset", "device=cpu", "test_acc=0.75"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["smoke"] is True and results["results"][0]["metrics"]["test_acc"] == 0.75
    assert results["stand_in_data"] == []
    assert (tmp_path / "good.ipynb").exists()


@pytest.mark.notebook
def test_smoke_run_offline_uses_stand_in_data(tmp_path, monkeypatch, capsys):
    """An empty data directory and no network: the kernels get stand-ins and the run says so."""
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    monkeypatch.delenv("COURSE_DATA_CHECKSUMS", raising=False)
    nb = _notebook(tmp_path / "uses_data.ipynb",
                   "import course\nfrom course import data\n"
                   "X, y = data.load_tensors('cifar10', train=False)\n"
                   "course.record(n_cifar=len(X), n_titanic=len(data.load_titanic()),\n"
                   "              n_mnist=len(data.mnist(False, download=False)))")
    table = runner.run([nb], out_dir=tmp_path / "out", smoke=True, device="cpu")
    out = capsys.readouterr().out
    assert table.status.tolist() == ["ok"], out
    lines = [line for line in out.splitlines() if "stand-in" in line]
    assert len(lines) == 1 and "mnist, cifar10, titanic, pima, diabetes not in" in lines[0]
    assert sorted(table.metrics[0].split(", ")) == ["n_cifar=200", "n_mnist=200", "n_titanic=200"]
    assert list(empty.iterdir()) == []  # nothing downloaded into, or written to, the cache
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["stand_in_data"] == ["mnist", "cifar10", "titanic", "pima", "diabetes"]


def test_smoke_data_only_for_what_is_missing(fake_data, tmp_path, monkeypatch):
    import shutil

    from course import data

    monkeypatch.setenv("COURSE_DATA_CHECKSUMS", str(fake_data / "checksums.json"))
    # Every dataset there (the stand-ins count as real under the override): nothing to do.
    assert runner.smoke_data(tmp_path / "out", str(fake_data), verbose=False) == ({}, [])
    assert not (tmp_path / "out" / runner.STANDIN_FOLDER).exists()
    # CIFAR-10 missing: a stand-in for it, links to the rest.
    cache = tmp_path / "cache"
    shutil.copytree(fake_data, cache, ignore=shutil.ignore_patterns("cifar-10-batches-py"))
    env, stand_ins = runner.smoke_data(tmp_path / "out", str(cache), verbose=False)
    folder = tmp_path / "out" / runner.STANDIN_FOLDER
    assert stand_ins == ["cifar10"] and env["COURSE_DATA_DIR"] == str(folder.resolve())
    sums = json.loads((folder / "checksums.json").read_text())
    original = json.loads((fake_data / "checksums.json").read_text())
    assert sums["cifar10_md5"] == original["cifar10_md5"]  # same seed, same stand-in
    assert sums["tabular_sha256"] == original["tabular_sha256"]  # kept for the linked files
    assert (folder / "MNIST").resolve() == (cache / "MNIST").resolve()
    assert (folder / "tabular" / "pima-indians-diabetes.csv").read_bytes() == \
        (cache / "tabular" / "pima-indians-diabetes.csv").read_bytes()
    monkeypatch.setenv("COURSE_DATA_CHECKSUMS", env["COURSE_DATA_CHECKSUMS"])
    monkeypatch.setenv("COURSE_DATA_DIR", env["COURSE_DATA_DIR"])
    assert set(data.cache_status().values()) == {"ok"}


def test_one_cell_timeout_default():
    import inspect

    default = runner.DEFAULT_CELL_TIMEOUT
    args = cli.build_parser().parse_args(["run"])
    assert args.timeout == default and args.jobs == 1
    for fn in (runner.run, runner.run_notebook):
        assert inspect.signature(fn).parameters["timeout"].default == default


def test_environment_sets_unsets_and_restores(monkeypatch):
    import os

    monkeypatch.setenv("KEEP_ME", "1")
    monkeypatch.setenv("DROP_ME", "2")
    monkeypatch.delenv("NEW_ONE", raising=False)
    with runner._environment({"DROP_ME": None, "NEW_ONE": 3, "KEEP_ME": "changed"}):
        assert ("DROP_ME" in os.environ, os.environ["NEW_ONE"], os.environ["KEEP_ME"]) == (False, "3", "changed")
    assert (os.environ["DROP_ME"], "NEW_ONE" in os.environ, os.environ["KEEP_ME"]) == ("2", False, "1")


def test_run_notebook_sets_no_device_variable():
    import inspect

    assert "device" not in inspect.signature(runner.run_notebook).parameters
    assert "COURSE_DEVICE" not in inspect.getsource(runner)


def test_record_outside_a_kernel_prints(capsys):
    assert runner.record(loss=0.5) == {"loss": 0.5}
    assert "recorded: loss = 0.5" in capsys.readouterr().out


def test_find_notebooks(two_notebooks):
    good, _ = two_notebooks
    assert runner.find_notebooks([str(good.parent)]) == sorted(good.parent.glob("*.ipynb"))
    with pytest.raises(FileNotFoundError, match="No notebook matches"):
        runner.find_notebooks(["does-not-exist-*"])


def test_cli_data_path_and_doctor(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path)
    assert cli.main(["doctor", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "titanic   missing" in out


def test_cli_offline_download_fails_cleanly(tmp_path, monkeypatch, capsys):
    import dataclasses

    from course import data

    monkeypatch.setitem(data.TABULAR, "titanic",
                        dataclasses.replace(data.TABULAR["titanic"], url="http://127.0.0.1:9/t.csv"))
    assert cli.main(["data", "download", "titanic", "--data-dir", str(tmp_path)]) == 1
    assert "FAILED: Could not download titanic_train.csv" in capsys.readouterr().out


def test_cli_bad_input_is_a_message_not_a_traceback(capsys):
    assert cli.main(["data", "download", "iris"]) == 2
    assert "Unknown dataset 'iris'" in capsys.readouterr().err


def test_python_dash_m_course_works():
    result = subprocess.run([sys.executable, "-m", "course", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "doctor" in result.stdout


def test_new_lesson_template_follows_conventions_and_colab_links_rewrite(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "repo"
    (root / "course").mkdir(parents=True)
    (root / "notebooks").mkdir()
    shutil.copy(paths.REPOSITORY_FILE, root / "course" / "repository.json")
    path = notebooks.new_lesson(7, "demo_lesson", "Demo", root=root)
    assert notebooks.problems(path, root=root) == []
    notebooks.set_repo("someone/fork", root=root)
    text = path.read_text()
    assert "github/someone/fork/blob/main/notebooks/07_demo_lesson.ipynb" in text
    assert "git+https://github.com/someone/fork@main" in text
    assert paths.github(root) == ("someone/fork", "main")
    assert paths.github() == (paths.GITHUB_REPO, paths.GITHUB_BRANCH), "the real repository.json changed"
    with pytest.raises(ValueError, match="owner/name"):
        notebooks.set_repo("not a repo", root=root)


def test_commands_that_need_a_checkout_say_so(tmp_path, capsys):
    """An installed package (Colab: ROOT is site-packages) has no notebooks, solutions or
    nbgrader_config.py: each command that needs them stops with one clear line."""
    with pytest.raises(RuntimeError, match="needs a checkout of the course repository"):
        paths.checkout(root=tmp_path)
    for argv in (["lint"], ["strip"], ["colab-links", "--repo", "a/b"], ["new-lesson", "9", "x", "X"], ["run"],
                 ["release"], ["autograde"], ["feedback"], ["grades"], ["roster", "x.csv"], ["due", "A", "2026-01-01"]):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(paths, "ROOT", tmp_path)
            mp.chdir(tmp_path)
            for module in (notebooks, runner):
                mp.setattr(module, "ROOT", tmp_path)
            for fn in ("set_repo", "new_lesson"):   # their root= defaults were bound at import
                original = getattr(notebooks, fn)
                mp.setattr(notebooks, fn, lambda *a, _f=original, **k: _f(*a, root=tmp_path, **k))
            assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "needs a checkout of the course repository" in err and "git clone" in err, (argv, err)


def test_the_github_address_is_data_that_lessons_reach_through_import_course():
    code = "import course; print(course.paths.GITHUB_REPO, course.paths.GITHUB_BRANCH)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == list(paths.github()) and out.split()[0].count("/") == 1
    assert not hasattr(notebooks, "REPO") and not hasattr(runner, "REPO"), "REPO names nothing any more"


def test_every_command_is_a_course_subcommand():
    """One command line: the instructors' commands and the grading kernel are ``course`` subcommands."""
    import json as _json

    out = subprocess.run([sys.executable, "-m", "course", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("doctor", "data", "run", "new-lesson", "colab-links", "strip", "lint", "release", "autograde",
                    "feedback", "grades", "roster", "due", "kernel"):
        assert command in out, command
    parser = cli.build_parser()
    args = parser.parse_args(["autograde", "A1", "--jobs", "2", "--student", "s", "--timeout", "9",
                              "--student-timeout", "30", "--root", "R"])
    assert (args.assignments, args.jobs, args.student, args.timeout, args.student_timeout, args.root) == \
        (["A1"], 2, ["s"], 9, 30.0, "R")
    assert parser.parse_args(["kernel", "install", "--sys-prefix"]).sys_prefix
    spec = _json.loads((ROOT / "course" / "kernels" / "dlcourse-grading" / "kernel.json").read_text())
    assert spec["argv"] == ["python", "-I", "-m", "course", "kernel", "launch", "-f", "{connection_file}"]
    for old in ("autograde", "kernels"):
        assert not (ROOT / "course" / old / "__main__.py").exists(), f"python -m course.{old} is gone"
    makefile = (ROOT / "Makefile").read_text()
    assert "-m course." not in makefile and "-m course autograde" in makefile


def test_the_kernel_launcher_imports_only_the_standard_library():
    """``python -I -m course kernel launch`` starts every grading kernel: no nbformat, nbgrader,
    torch, pandas or numpy before IPython (importing nbformat there made kernels start in 6 s)."""
    code = ("import os, sys; os.execv = lambda *a: (print(sorted(sys.modules)), sys.exit(0)); "
            "sys.argv = ['course', 'kernel', 'launch', '-f', 'x.json']; "
            "import runpy; runpy.run_module('course', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in __import__("os").environ.items() if k != "COURSE_SANDBOX"}).stdout
    loaded = {name.split(".")[0] for name in eval(out)}
    assert not loaded & {"nbformat", "nbgrader", "torch", "pandas", "numpy", "jupyter_client", "IPython"}, loaded
    assert "course.runner" not in eval(out) and "course.autograde.cli" not in eval(out)


def test_strip_removes_outputs(tmp_path):
    path = _notebook(tmp_path / "x.ipynb", "1 + 1")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells[1].execution_count = 1
    nbformat.write(nb, path)
    assert notebooks.strip(path) is True and notebooks.strip(path) is False
    assert nbformat.read(path, as_version=4).cells[1].outputs == []


def test_longest_notebooks_start_first(tmp_path, monkeypatch):
    """With --jobs 2 the runner starts the longest notebooks first: expected seconds from the
    last run of the same mode in the output folder, else (smoke) course/smoke_seconds.json;
    notebooks without a figure go first, in the order given."""
    a, b, c, d = (tmp_path / f"{name}.ipynb" for name in "abcd")
    shipped = tmp_path / "smoke_seconds.json"
    shipped.write_text(json.dumps({str(b): 3.0, str(c): 1.0}))
    monkeypatch.setattr(runner, "SMOKE_SECONDS", shipped)
    out = tmp_path / "out"
    assert runner.expected_seconds([a, b, c, d], out, smoke=True) == {b: 3.0, c: 1.0}
    assert runner.expected_seconds([a, b, c, d], out, smoke=False) == {}
    out.mkdir()
    rows = [{"notebook": str(c), "status": "ok", "seconds": 9.0},
            {"notebook": str(a), "status": "FAILED", "seconds": 50.0}]
    (out / "results.json").write_text(json.dumps({"smoke": True, "results": rows}))
    expected = runner.expected_seconds([a, b, c, d], out, smoke=True)
    assert expected == {b: 3.0, c: 9.0}                     # the last run wins; failures do not count
    assert runner.longest_first([a, b, c, d], expected) == [0, 3, 2, 1]
    assert runner.expected_seconds([a], out, smoke=False) == {}


def test_shipped_smoke_seconds_name_every_notebook_of_make_smoke():
    """course/smoke_seconds.json (the runner's expected seconds) lists each lesson and solution."""
    shipped = json.loads((ROOT / "course" / "smoke_seconds.json").read_text())
    wanted = runner.find_notebooks([str(ROOT / "notebooks" / "[0-9][0-9]_*.ipynb"), str(ROOT / "solutions")])
    assert sorted(shipped) == sorted(str(p.resolve().relative_to(ROOT)) for p in wanted)
    assert all(isinstance(s, (int, float)) and s > 0 for s in shipped.values())


def _plain_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_smoke_runs_fork_warm_kernels_that_start_fresh(tmp_path, monkeypatch):
    """A CPU smoke run forks each kernel from a zygote that imported what the notebooks import
    (torch is in sys.modules before the first cell imports it), yet every kernel starts with an
    empty namespace, its own folder and inline figures; a full run starts kernels the ordinary way."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "no-data"))
    (tmp_path / "a").mkdir()
    first = _plain_notebook(tmp_path / "a" / "first.ipynb",
                      "import os, sys\nprint('warm' if 'torch' in sys.modules else 'cold', os.path.basename(os.getcwd()))\n"
                      "leftover = 1",
                      "import torch\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()")
    second = _plain_notebook(tmp_path / "second.ipynb", "print('leftover' in globals())")
    runner.run([first, second], tmp_path / "out", smoke=True, device="cpu", verbose=False, jobs=1)
    # (papermill puts a cell of injected parameters first: the notebook's own cells are the last ones)
    out = {p.stem: nbformat.read(tmp_path / "out" / p.name, as_version=4).cells for p in (first, second)}
    assert out["first"][-2].outputs[0]["text"].split() == ["warm", "a"], out["first"][-2].outputs
    assert any("image/png" in o.get("data", {}) for o in out["first"][-1].outputs), out["first"][-1].outputs
    assert out["second"][-1].outputs[0]["text"].strip() == "False"
    runner.run([first], tmp_path / "full", smoke=False, device="cpu", verbose=False, jobs=1)
    cold = nbformat.read(tmp_path / "full" / "first.ipynb", as_version=4).cells
    assert cold[-2].outputs[0]["text"].split() == ["cold", "a"], cold[-2].outputs


def test_an_unsandboxed_zygote_refuses_to_end_every_other_process(tmp_path):
    """``reset`` kills every other process it may signal: only a zygote in a bubblewrap PID
    namespace of its own (a grading slot) may do that; the runner's refuses."""
    from course.kernels import zygote

    control = str(tmp_path / "z.sock")
    proc = zygote.start([sys.executable, "-I", "-m", "course", "kernel", "zygote", "--fd"], control, [],
                        dict(__import__("os").environ), tmp_path / "z.log")
    try:
        assert zygote.call(control, "ping", timeout=60)["ok"]
        with pytest.raises(OSError, match="only in a sandbox of its own"):
            zygote.call(control, "reset")
        assert zygote.alive(control)
    finally:
        proc.kill()
        proc.wait()
