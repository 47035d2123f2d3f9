"""Stand-in datasets for the tests: the writer lives in the package (``course/standin.py``), so
that the test suite and ``course run --smoke`` share one.

    python tests/fakedata.py DIR      # the same as ``python -m course.standin DIR``
"""
from __future__ import annotations

import sys

from course.standin import write_all  # noqa: F401  (tests/conftest.py calls fakedata.write_all)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/fakedata.py DIR")
    print(write_all(sys.argv[1]))
