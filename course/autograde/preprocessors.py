"""nbgrader preprocessors of the course (named in ``nbgrader_config.py``), besides the executor.

* ``RestoreCellMetadata``: cells that lost their nbgrader metadata (an editor that drops it) get
  it back from the released notebook (by cell id, else by content and position); deleted and
  edited test cells are noted (nbgrader restores them from the gradebook).
* ``GradingNotes``: a "Grading notes" markdown cell at the top of the graded notebook lists what
  went wrong, so formgrader and the student's feedback say it.
* ``ShowRubrics``: under each written answer (a manually graded answer cell) the graded notebook
  gets a read-only cell with the model answer and rubric from the source notebook, so the
  formgrader shows them beside what the student wrote.
* ``HideHiddenTests``: feedback shows the test cells without their hidden part, errors in test
  cells without a traceback (a traceback would quote the hidden lines), and no rubric cells.

Used by: nbgrader, through ``nbgrader_config.py``.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Bool, Unicode

from course.autograde.notes import (GRADER_ERRORS, NOTES_CELL, add_note, coursedir, describe_error,
                                    grade_id, notes_of, where)


class RestoreCellMetadata(NbGraderPreprocessor):
    """Give back nbgrader metadata that a submission lost, and note deleted or edited test cells.

    Runs before nbgrader's ``OverwriteCells``. Reference: the released notebook
    (``<release_directory>/<assignment>/<notebook>.ipynb``). A released grade, solution or locked
    cell whose ``grade_id`` is missing from the submission is looked up by cell id, then (for
    cells students do not edit) by identical source, then (answer cells) by position between
    matched neighbours; a match gets the released metadata back. What cannot be matched is
    left to nbgrader: a missing test cell is put back from the gradebook when
    ``OverwriteCells.add_missing_cells`` is on (nbgrader_config.py), a missing answer scores 0.
    """

    release_directory = Unicode("", help="Folder of released assignments (default: the course's).").tag(config=True)

    def _released(self, resources):
        course_dir = coursedir(self)
        folder = self.release_directory or (course_dir.release_directory if course_dir else "release")
        root = Path(course_dir.root) if course_dir else Path.cwd()
        info = resources["nbgrader"]
        path = root / folder / info["assignment"] / f"{info['notebook']}.ipynb"
        if not path.exists():
            self.log.warning("No released notebook at %s: cannot restore cell metadata", path)
            return None
        return nbformat.read(path, as_version=4)

    def preprocess(self, nb, resources):
        released = self._released(resources)
        if released is None:
            return nb, resources
        refs = [(i, c) for i, c in enumerate(released.cells) if grade_id(c)]
        known = {grade_id(c) for _, c in refs}
        present = {grade_id(c) for c in nb.cells if grade_id(c) in known}
        missing = [(i, c) for i, c in refs if grade_id(c) not in present]
        if missing:
            restored = self._restore(nb, released, missing, known)
            if restored:
                add_note(nb, f"{len(restored)} cell(s) had lost their grading metadata "
                             f"({', '.join(restored)}); it was restored from the released notebook")
        by_id = {grade_id(c): c for c in nb.cells if grade_id(c)}
        add_back = bool(self.config.get("OverwriteCells", {}).get("add_missing_cells", False))
        for _, ref in refs:
            gid, meta = grade_id(ref), ref.metadata.nbgrader
            cell = by_id.get(gid)
            if cell is None:
                if meta.get("grade") and not meta.get("solution"):
                    add_note(nb, f"test cell '{gid}' was missing from the submission; "
                                 + ("it was put back from the course's copy and graded"
                                    if add_back else "it scores 0"))
                else:
                    add_note(nb, f"cell '{gid}' was missing from the submission")
            elif meta.get("locked") and "checksum" in meta and cell.cell_type == ref.cell_type:
                try:
                    edited = nbutils.compute_checksum(cell) != meta["checksum"]
                except Exception:  # noqa: BLE001 - malformed metadata: OverwriteCells fixes it
                    edited = True
                if edited:
                    add_note(nb, f"read-only cell '{gid}' was edited; the original was restored")
        return nb, resources

    def _restore(self, nb, released, missing, known) -> list[str]:
        """Match released cells to unlabelled submitted cells; returns the grade ids restored."""
        free = [j for j, c in enumerate(nb.cells) if grade_id(c) not in known]
        mapping: dict[int, int] = {}  # released index -> submitted index

        def take(i: int, j: int) -> None:
            mapping[i] = j
            free.remove(j)

        ids = {}
        for j in free:
            ids.setdefault(nb.cells[j].get("id"), j)
        for i, ref in enumerate(released.cells):  # 1. same cell id (nbformat >= 4.5)
            j = ids.get(ref.get("id"))
            if ref.get("id") and j in free and nb.cells[j].cell_type == ref.cell_type:
                take(i, j)
        for i, ref in enumerate(released.cells):  # 2. same source, for cells students keep as is
            meta = ref.metadata.get("nbgrader", {})
            if i in mapping or meta.get("solution"):
                continue
            for j in free:
                if nb.cells[j].cell_type == ref.cell_type and nb.cells[j].source.strip() == ref.source.strip():
                    take(i, j)
                    break
        for j, cell in enumerate(nb.cells):  # anchors: cells already labelled
            gid = grade_id(cell)
            if gid in known:
                for i, ref in enumerate(released.cells):
                    if grade_id(ref) == gid:
                        mapping.setdefault(i, j)
        for i, ref in missing:  # 3. answer cells: the one slot between matched neighbours
            if i in mapping:
                continue
            before = [k for k in mapping if k < i]
            after = [k for k in mapping if k > i]
            if before and after and i - max(before) == 1 and min(after) - i == 1:
                j = mapping[max(before)] + 1
                if j in free and j < mapping[min(after)] and nb.cells[j].cell_type == ref.cell_type:
                    take(i, j)
        restored = []
        for i, ref in missing:
            j = mapping.get(i)
            if j is None or grade_id(nb.cells[j]) in known:
                continue
            cell = nb.cells[j]
            cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata["nbgrader"])
            for flag in ("deletable", "editable"):
                if flag in ref.metadata:
                    cell.metadata[flag] = ref.metadata[flag]
            restored.append(grade_id(ref))
        return restored


class GradingNotes(NbGraderPreprocessor):
    """Put a "Grading notes" markdown cell at the top of a graded notebook when something went wrong.

    The notes: those left by the steps before (staging, ``RestoreCellMetadata``) plus one line per
    code cell that ended in an error (a test cell's error costs its points). They are also kept
    in ``nb.metadata.course_grading.notes`` for the status table. Clean notebooks are unchanged.
    """

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(NOTES_CELL)]
        number = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            number += 1
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                # the grader's own errors (timeout, dead kernel) say more than a KeyboardInterrupt
                ours = [o for o in errors if o.get("ename") in GRADER_ERRORS]
                add_note(nb, f"{where(cell, number)}: {describe_error((ours or errors)[0])}")
        notes = notes_of(nb)
        if notes:
            text = ("### Grading notes\n\nThe autograder ran this notebook and noticed:\n\n"
                    + "\n".join(f"- {n}" for n in notes)
                    + "\n\nA test cell that ends in an error scores 0; the scores are in each test cell.")
            cell = nbformat.v4.new_markdown_cell(text)
            cell.metadata[NOTES_CELL] = True
            nb.cells.insert(0, cell)
        return nb, resources


RUBRIC_CELL = "course_grading_rubric"   # cell metadata marker of a rubric cell (ShowRubrics)


def solution_text(source: str) -> str:
    """What lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in a cell's source."""
    lines, inside = [], False
    for line in source.split("\n"):
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines).strip()


class ShowRubrics(NbGraderPreprocessor):
    """For the formgrader: after each written answer (a markdown cell that is both a solution
    and a grade cell), a markdown cell with the model answer and rubric of that cell in the
    source notebook (``<source>/<assignment>/<notebook>.ipynb``, the part between ``### BEGIN
    SOLUTION`` and ``### END SOLUTION``). The cell carries no nbgrader metadata, so it changes no
    score; feedback leaves it out (``HideHiddenTests``)."""

    source_directory = Unicode("", help="Folder of the assignments' sources (default: the course's).").tag(config=True)

    def _source(self, resources):
        course_dir = coursedir(self)
        folder = self.source_directory or (str(Path(course_dir.root) / course_dir.source_directory)
                                           if course_dir else "source")
        info = resources["nbgrader"]
        path = Path(folder) / info["assignment"] / f"{info['notebook']}.ipynb"
        return nbformat.read(path, as_version=4) if path.exists() else None

    def preprocess(self, nb, resources):
        def written(cell) -> bool:
            return cell.cell_type == "markdown" and nbutils.is_solution(cell) and nbutils.is_grade(cell)

        nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(RUBRIC_CELL)]
        source = self._source(resources) if any(written(c) for c in nb.cells) else None
        if source is None:
            return nb, resources
        rubrics = {grade_id(c): solution_text(c.source) for c in source.cells if written(c)}
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            text = rubrics.get(grade_id(cell)) if written(cell) else None
            if text:
                rubric = nbformat.v4.new_markdown_cell(
                    f"> **For the grader** (from the source notebook; not shown in the feedback): the model "
                    f"answer and rubric of `{grade_id(cell)}`, {cell.metadata.nbgrader.get('points', 0):g} "
                    f"point(s).\n\n" + text)
                rubric.metadata[RUBRIC_CELL] = True
                cells.append(rubric)
        nb.cells = cells
        return nb, resources


class HideHiddenTests(ClearHiddenTests):
    """For feedback: drop the hidden-test regions and reduce test-cell errors to one line.

    A traceback quotes the lines around the failure, which may be hidden tests, so an error in a
    test cell is shown as ``ename: evalue`` only. Cells of the student's own code keep theirs.
    """

    enforce_metadata = Bool(False, help="Hidden tests outside grade cells are removed too.").tag(config=True)

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(RUBRIC_CELL)]   # graders only
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code" and nbutils.is_grade(cell) and not nbutils.is_solution(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
