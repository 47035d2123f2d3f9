"""One submission, graded by a warm worker process without an nbgrader application of its own.

``make autograde JOBS=N`` forks one worker per submission from a process that has already
imported nbgrader, torch and the checks (``pool``). The worker runs exactly the preprocessors
that ``nbgrader autograde`` runs for the course (``nbgrader_config.py``'s
``Autograde.sanitize_preprocessors`` and ``autograde_preprocessors``, with the same
configuration), in the same order and with the same resources, but leaves out the two that
write to the gradebook: ``SaveAutoGrades`` and ``AssignLatePenalties`` run afterwards, in one
``nbgrader autograde`` pass over all graded notebooks, one writer at a time (``grade``). So the
scores are those of a serial ``nbgrader autograde`` run, and no nbgrader application, database
copy or notebook conversion is started per student.

Used by: ``course.autograde.grade`` (through ``pool``).
"""
from __future__ import annotations

import shutil
import traceback
from pathlib import Path

#: The preprocessors that write the gradebook; the recording pass runs them.
RECORDING = ("nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties")


def grade_submission(root: str, staged: str, out: str, student: str, assignment: str, db_url: str,
                     options: list[str] = ()) -> int:
    """Grade every notebook of ``staged`` (a staged submission folder) into ``out``; 0 when done.

    ``db_url`` is a gradebook that knows the assignment (read only here: ``OverwriteCells`` and
    ``OverwriteKernelspec`` take the course's cells from it). ``options`` are nbgrader
    command-line settings (``--Execute.timeout=20``) on top of ``nbgrader_config.py``.
    """
    import nbformat
    from traitlets.utils.importstring import import_item

    from course.autograde.commands import config_dirs, config_of

    root_path, out_path = Path(root), Path(out)
    from traitlets.config.loader import KVArgParseConfigLoader

    config = config_of(root_path)
    config.merge(KVArgParseConfigLoader(argv=list(options)).load_config())
    source, release = config_dirs(root_path)
    config.RestoreCellMetadata.release_directory = str(root_path / release)
    config.ShowRubrics.source_directory = str(root_path / source)
    config.SafeExecute.submission_directory = str(Path(staged).resolve())   # its declared files (A4's weights)
    names = [*config.Autograde.sanitize_preprocessors,
             *[p for p in config.Autograde.autograde_preprocessors if p not in RECORDING]]
    out_path.mkdir(parents=True, exist_ok=True)
    code = 0
    for path in sorted(Path(staged).glob("*.ipynb")):
        resources = {"unique_key": path.stem, "output_files_dir": f"{path.stem}_files",
                     "metadata": {"path": str(out_path), "name": path.stem},
                     "nbgrader": {"student": student, "assignment": assignment, "notebook": path.stem,
                                  "db_url": db_url}}
        try:
            nb = nbformat.read(path, as_version=4)
            for name in names:
                nb, resources = import_item(name)(config=config)(nb, resources)
            nbformat.write(nb, out_path / path.name)
            print(f"graded {student}/{assignment}/{path.name}", flush=True)
        except Exception:  # noqa: BLE001 - this submission fails; the others go on
            traceback.print_exc()
            code = 1
    stamp = Path(staged) / "timestamp.txt"
    if stamp.is_file():
        shutil.copyfile(stamp, out_path / "timestamp.txt")
    return code

