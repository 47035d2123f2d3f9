import course.startup  # noqa: F401,I001 - first: skips a slow optional import (see its docstring)
from course.cli import main

if __name__ == "__main__":  # not when a "spawn" worker of `course run --jobs N` imports it
    raise SystemExit(main())
