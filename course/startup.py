"""Importing this module first makes the course's command-line processes start seconds faster.

``jsonschema`` (imported by ``nbformat``, so by nbgrader, nbclient and papermill) imports the
optional ``rfc3987_syntax`` package when it is installed (``jupyterlab`` pulls it in through
``jsonschema[format-nongpl]``), and that package builds 38 Lark parsers at import time: about
3 s of CPU in every process that reads a notebook (jsonschema issue #1428). It serves only
the ``iri`` and ``iri-reference`` string formats, which no notebook, nbgrader or Jupyter schema
the course uses checks. So the processes the course starts itself (``python -m course`` and the
autograder's forkserver) mark it as not installed before anything imports ``jsonschema``;
``jsonschema`` then leaves those two formats unchecked, as it does wherever the package is
missing. A process that imported ``rfc3987_syntax`` already keeps it.

Used by: ``course/__main__.py``, ``course.autograde.pool`` (the forkserver's first import).
"""
import sys

sys.modules.setdefault("rfc3987_syntax", None)   # None: "import rfc3987_syntax" raises ImportError
