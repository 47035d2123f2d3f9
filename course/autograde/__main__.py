"""``python -m course.autograde``: see ``course.autograde.cli``."""
import sys

from course.autograde.cli import main

sys.exit(main())
