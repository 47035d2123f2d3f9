"""Importing this module makes a process ready to grade: the checks and PyTorch's one-time costs.

The parallel grader's forkserver imports it once (``pool.PRELOAD``), so every grading job forked
from it starts warm instead of paying seconds each for importing torch, ``torch._dynamo`` (the
first optimizer; not for checks that say ``WARM_UP_TORCH = False``), the checks, and the first
use of nbformat's validator and nbgrader's gradebook; nbgrader's per-cell metadata validation
checks its (fixed) schema once, and its gradebook queries are compiled once per process.

When the grader names what it is about to grade (``$COURSE_WARM_GRADEBOOK``, set by
``pool.prestart``: the gradebook, the assignment and its source notebooks), only the checks
modules its test cells call are imported, and the queries each job's read-only preprocessors
run on that gradebook are compiled here, before any fork. Otherwise every checks module is.

Used by: ``course.autograde.pool``.
"""
import contextlib
import importlib
import json
import os

from course.autograde.pool import GRADEBOOK_ENV
from course.grading import ASSIGNMENTS, core


def _spec() -> dict:
    """What ``pool.prestart`` said it is about to grade: ``{"db_url", "assignment", "notebooks"}``
    (empty when it said nothing)."""
    try:
        return dict(json.loads(os.environ.get(GRADEBOOK_ENV) or "{}"))
    except (ValueError, TypeError):
        return {}


def _checks_modules(spec: dict) -> list[str]:
    """The ``course.grading`` modules that the test cells of the source notebooks in ``spec``
    call (``a1``, ...); all of them when there is no spec or it names none."""
    found: set[str] = set()
    try:
        import nbformat

        from course.autograde import testcells
        from course.autograde.execute import is_test_cell

        for path in spec.get("notebooks", []):
            for cell in nbformat.read(path, as_version=4).cells:
                if is_test_cell(cell):
                    try:
                        found.add(testcells.parse(cell.source).module)
                    except ValueError:
                        pass
    except Exception:  # noqa: BLE001 - only speed is at stake
        found = set()
    return sorted(found & set(ASSIGNMENTS)) or list(ASSIGNMENTS)


def _import_checks(names: list[str]) -> None:
    modules = [importlib.import_module(f"course.grading.{name}") for name in names]
    if any(getattr(module, "WARM_UP_TORCH", True) for module in modules):
        core._warm_up()


def _first_use_costs() -> None:
    """What every grading job would otherwise pay again after its fork: nbformat's compiled
    notebook validator and SQLAlchemy's mapper configuration of nbgrader's gradebook."""
    import nbformat
    from nbformat.validator import get_validator
    from sqlalchemy.orm import configure_mappers

    import nbgrader.api  # noqa: F401 - its mappers are configured below

    get_validator(version=4, version_minor=nbformat.current_nbformat_minor)
    configure_mappers()


def _check_each_schema_once() -> None:
    """nbgrader validates the metadata of every cell with ``jsonschema.validate``, which first
    re-checks the schema itself against its meta-schema: on each of the ~60 calls per
    notebook, a quarter of a second per submission. Its schema is nbgrader's own file and does
    not change, so here (in the grader's processes only) each schema is checked once; the
    cell metadata is validated exactly as before."""
    import json

    import jsonschema
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    checked: set = set()

    def validate(instance, schema, cls=None, *args, **kwargs):
        cls = cls or validator_for(schema)
        key = (cls, json.dumps(schema, sort_keys=True))
        if key not in checked:
            cls.check_schema(schema)
            checked.add(key)
        error = best_match(cls(schema, *args, **kwargs).iter_errors(instance))
        if error is not None:
            raise error

    validate.__doc__ = jsonschema.validate.__doc__
    jsonschema.validate = validate


def _one_engine_per_database() -> None:
    """nbgrader opens a new ``Gradebook`` several times per notebook, and each made its own
    SQLAlchemy engine; an engine's cache of compiled statements goes with it, so every query
    was compiled again each time (most of the recording pass's time). Here the grader's
    processes make one engine per database URL and every ``Gradebook`` uses it. Closing a
    ``Gradebook`` still disposes of the engine's connections; the next one opens new ones."""
    import functools

    import nbgrader.api
    from sqlalchemy import create_engine

    nbgrader.api.create_engine = functools.lru_cache(maxsize=8)(create_engine)


def _compile_queries(spec: dict) -> None:
    """Run nbgrader's ``OverwriteKernelspec`` and ``OverwriteCells`` once on the assignment's
    first source notebook against the gradebook ``db_url`` (both only read it), so that the
    engine of that gradebook (one per URL: ``_one_engine_per_database``) holds their compiled
    queries when jobs fork: about 50 ms less per graded notebook. Closing the gradebook closes
    its connections, so no SQLite connection crosses a fork. Anything amiss (no gradebook yet,
    an assignment it does not know) only leaves the cache cold."""
    if not spec:
        return
    try:
        import nbformat
        from nbgrader.preprocessors import OverwriteCells, OverwriteKernelspec

        if not os.path.exists(spec["db_url"].removeprefix("sqlite:///")):
            return
        notebook = spec["notebooks"][0]
        nb = nbformat.read(notebook, as_version=4)
        resources = {"nbgrader": {"notebook": os.path.splitext(os.path.basename(notebook))[0],
                                  "assignment": spec["assignment"], "db_url": spec["db_url"]}}
        for preprocessor in (OverwriteKernelspec, OverwriteCells):
            nb, resources = preprocessor()(nb, resources)
    except Exception:  # noqa: BLE001 - only speed is at stake
        pass


def _end_start_up_boost() -> None:
    """``pool.prestart`` (as root) raises the forkserver's priority while it imports, because
    every job waits for it; it forks jobs at the grader's own priority."""
    with contextlib.suppress(OSError):
        parent = os.getpriority(os.PRIO_PROCESS, os.getppid())
        if os.getpriority(os.PRIO_PROCESS, 0) < parent:
            os.setpriority(os.PRIO_PROCESS, 0, parent)


_SPEC = _spec()
_import_checks(_checks_modules(_SPEC))
_first_use_costs()
_check_each_schema_once()
_one_engine_per_database()
_compile_queries(_SPEC)
_end_start_up_boost()
