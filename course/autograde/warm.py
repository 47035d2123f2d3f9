"""Importing this module makes a process ready to grade: the checks and PyTorch's one-time costs.

The parallel grader's forkserver imports it once (``pool.PRELOAD``), so every grading job forked
from it starts warm instead of paying seconds each for importing torch, ``torch._dynamo`` (the
first optimizer), the checks, and the first use of nbformat's validator and nbgrader's
gradebook; nbgrader's per-cell metadata validation checks its (fixed) schema once, and its
gradebook queries are compiled once per process.

Used by: ``course.autograde.pool``.
"""
from course.grading import ASSIGNMENTS, core

for _name in ASSIGNMENTS:
    __import__(f"course.grading.{_name}")
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


_first_use_costs()
_check_each_schema_once()
_one_engine_per_database()
