"""Grading the assignments with nbgrader: release, sandboxed trusted autograde, feedback, grades.

nbgrader is the grading engine; this package adds what a course with many students, some of them
determined to get points without the work, needs on top of it:

==================  ==========================================================================
``execute``         ``SafeExecute``: runs answer cells in a sandboxed kernel and scores test
                    cells in the trusted grader process, never in the student's kernel
``remote``          the grader's proxies of the learner's objects (probes over the kernel)
``testcells``       reading a test cell's check call
``sandbox``         bubblewrap: no network, own scratch folder, read-only environment, limits
``preprocessors``   restoring lost cell metadata, grading notes, feedback without hidden tests
``notes``           the grading notes and the vocabulary the steps share
``staging``         copying only the notebooks of a submission to where it is graded
``commands``        nbgrader's own command line: release, gradebook, folders
``pool``            parallel grading jobs forked from a warm process
``grade``           one batch of submissions, serial or parallel, with the status table
``report``          scores, status table, feedback, grades export
``cli``             the ``course release|autograde|feedback|grades|roster|due`` subcommands
==================  ==========================================================================

``nbgrader_config.py`` switches the preprocessors on, so a plain ``nbgrader autograde`` grades
the same way as ``make autograde``. Import what you need from the modules themselves: this
package imports nothing, so the kernel launcher (``course.kernels``) stays light.
"""
