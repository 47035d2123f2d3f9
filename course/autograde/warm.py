"""Importing this module makes a process ready to grade: the checks and PyTorch's one-time costs.

The parallel grader's forkserver imports it once (``pool.PRELOAD``), so every grading job forked
from it starts warm instead of paying seconds each for importing torch, ``torch._dynamo`` (the
first optimizer) and the checks.

Used by: ``course.autograde.pool``.
"""
from course.grading import ASSIGNMENTS, core

for _name in ASSIGNMENTS:
    __import__(f"course.grading.{_name}")
core._warm_up()
