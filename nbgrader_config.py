"""nbgrader configuration of the course. Run nbgrader (or `make assignments/autograde/...`) from here.

Layout (nbgrader's name -> this repository):

    source     solutions/<A>/<A>.ipynb     assignments with solutions and hidden tests (instructors)
    release    assignments/<A>/<A>.ipynb   student versions made by `make assignments` (committed)
    submitted  submitted/<student>/<A>/    what students handed in        } the instructor's working
    autograded autograded/<student>/<A>/   executed and scored notebooks  } state, git-ignored
    feedback   feedback/<student>/<A>/     HTML feedback for students     }
    gradebook  gradebook.db                SQLite, next to this file      }

Everything about grading that is not nbgrader's default is set here, so that plain `nbgrader
autograde` and `make autograde` (`python -m course autograde`, which adds parallel jobs and a
status table on top) grade the same way:

* every submission runs in the grading kernel `dlcourse-grading` (memory cap, one thread; see
  `course/kernels/`), with a per-cell timeout; a kernel that dies (os._exit, a crash, exit()) or
  hangs is restarted, the cells before it are re-run and grading goes on
  (`course.autograde.execute.SafeExecute`);
* cell metadata that a submission lost is restored from the released notebook, and test cells a
  student deleted are put back from the gradebook (`RestoreCellMetadata`,
  `OverwriteCells.add_missing_cells`); edited test cells are restored by nbgrader as always;
* what went wrong is written into a "Grading notes" cell at the top of the graded notebook
  (`GradingNotes`), so formgrader and the feedback show it;
* each written answer is followed by its model answer and rubric from the source notebook, for
  the formgrader (`ShowRubrics`);
* feedback never shows hidden tests or rubrics (`HideHiddenTests`).
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

# --- course and directories --------------------------------------------------------------------
c.CourseDirectory.course_id = "dlcourse"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "checkpoints",
                            "assignment.json"]


def _source_copies_of_handed_in_files():
    """Absolute paths of the files students hand in besides their notebooks (``files`` in
    ``solutions/<A>/assignment.json``: A4's ``a4_cifar_cnn.pt``) as they would lie in the
    source folder, where running the solution writes the instructor's own copy.

    Such a file must travel with a submission through `nbgrader submit` and `collect`, but the
    instructor's copy must never be released, nor put over a student's file by `autograde`.
    nbgrader reads `CourseDirectory.ignore` in two ways: copies between folders (submit,
    collect, fetch) match each entry against the bare file name, so an absolute path never
    matches there; releasing and autograding glob each entry in the file's folder, where an
    absolute path stands for itself. nbgrader spells the source folder "<root>/solutions/./<A>",
    hence both spellings. tests/test_grading_a4.py checks both sides with nbgrader itself.
    """
    import glob
    import json

    paths = []
    for spec in sorted(glob.glob(os.path.join(HERE, "solutions", "*", "assignment.json"))):
        folder = os.path.dirname(spec)
        with open(spec) as f:
            names = json.load(f).get("files", [])
        for name in names:
            paths += [os.path.join(folder, name),
                      os.path.join(HERE, "solutions", ".", os.path.basename(folder), name)]
    return paths


c.CourseDirectory.ignore += _source_copies_of_handed_in_files()

# --- releasing and collecting on this machine ------------------------------------------------------
# A course-local exchange folder, so the formgrader's release and collect work for an instructor on
# one machine (students on JupyterHub share a system-wide one instead: set c.Exchange.root there).
c.Exchange.root = os.path.join(HERE, "build", "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# --- late submissions ---------------------------------------------------------------------------------
# `python -m course due A "2026-12-24 23:59 UTC"` (`make due`) sets a due date; a submission's
# timestamp.txt says when it came in. Late work loses 10% of its score per started day.
c.AssignLatePenalties.plugin_class = "course.autograde.late.PercentPerDay"
c.PercentPerDay.percent = 10.0

# --- generating the student version --------------------------------------------------------------
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# --- autograding ----------------------------------------------------------------------------------
c.Execute.timeout = 60                 # seconds per cell; one call of learner code inside a check
                                       # stops after 5 s (course.grading.core.TIMEOUT, $COURSE_GRADING_TIMEOUT)
c.Execute.interrupt_on_timeout = True
c.SafeExecute.kernel_name = "dlcourse-grading"
c.SafeExecute.max_restarts = 3
c.SafeExecute.hidden_tests = os.path.join(HERE, "hidden_tests")
c.OverwriteCells.add_missing_cells = True
# A test cell's stderr output costs all its points in nbgrader. The checks capture what learner
# code prints or warns; this drops any Python warning that still reaches a cell's stderr.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "
c.Autograde.sanitize_preprocessors = [
    "course.autograde.preprocessors.RestoreCellMetadata",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "course.autograde.execute.SafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    "course.autograde.preprocessors.GradingNotes",
    "course.autograde.preprocessors.ShowRubrics",
]

# --- feedback -------------------------------------------------------------------------------------
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "course.autograde.preprocessors.HideHiddenTests",
]
