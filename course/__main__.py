from course.cli import main

if __name__ == "__main__":  # not when a "spawn" worker of `course run --jobs N` imports it
    raise SystemExit(main())
