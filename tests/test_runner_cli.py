"""The notebook runner and the `course` command line."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from course import cli, notebooks, runner

ROOT = Path(__file__).resolve().parent.parent


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
                     "import os, course\nassert SMOKE is True\n"
                     "course.record(test_acc=0.75, device=os.environ['COURSE_DEVICE'])")
    bad = _notebook(folder / "bad.ipynb", "x = 1\nraise ValueError('broken on purpose')")
    return good, bad


@pytest.mark.notebook
def test_cli_run_table_files_and_exit_code(two_notebooks, tmp_path, capsys):
    good, bad = two_notebooks
    code = cli.main(["run", str(good), str(bad), "--smoke", "--device", "cpu", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "bad.ipynb failed in cell 2" in out and "ValueError: broken on purpose" in out
    assert "1 notebook(s) failed" in err and "bad.ipynb" in err
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table.columns) == ["notebook", "status", "seconds", "metrics"]
    assert table.status.tolist() == ["ok", "FAILED"]
    assert sorted(table.metrics[0].split(", ")) == ["device=cpu", "test_acc=0.75"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["smoke"] is True and results["results"][0]["metrics"]["test_acc"] == 0.75
    assert (tmp_path / "good.ipynb").exists()


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
    shutil.copy(notebooks.__file__, root / "course" / "notebooks.py")
    path = notebooks.new_lesson(7, "demo_lesson", "Demo", root=root)
    assert notebooks.problems(path, root=root) == []
    monkeypatch.setattr(notebooks, "__file__", str(root / "course" / "notebooks.py"))
    notebooks.set_repo("someone/fork", root=root)
    text = path.read_text()
    assert "github/someone/fork/blob/main/notebooks/07_demo_lesson.ipynb" in text
    assert "git+https://github.com/someone/fork@main" in text
    assert 'REPO = "someone/fork"' in (root / "course" / "notebooks.py").read_text()
    with pytest.raises(ValueError, match="owner/name"):
        notebooks.set_repo("not a repo", root=root)


def test_strip_removes_outputs(tmp_path):
    path = _notebook(tmp_path / "x.ipynb", "1 + 1")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells[1].execution_count = 1
    nbformat.write(nb, path)
    assert notebooks.strip(path) is True and notebooks.strip(path) is False
    assert nbformat.read(path, as_version=4).cells[1].outputs == []
