"""The checks behind the lessons' exercises: one module per lesson (``course.exercises.l03``).

Each function takes what the learner wrote (a value or a function), compares it with a reference
(PyTorch serves as the oracle wherever it can) through ``course.check`` and prints one line of
feedback; it returns the points earned and never raises.
"""
