"""Hidden tests of A1 (instructor only: never shipped in the course package).

Loaded by ``course.grading.hidden`` when a test cell's hidden line runs a check with
``hidden=True``. Each list holds more cases in the format of the check's visible ones.
"""
AFFINE = [(10, 1, 3, 2), (11, 7, 2, 9), (12, 5, 1, 1), (13, 16, 10, 8)]
RELU = [(10, (1, 7)), (11, (6,)), (12, (2, 3, 4))]
SOFTMAX = [(10, 1, 4), (11, 32, 10), (12, 6, 2), (13, 4, 3, 50.0)]  # last: huge scores
NUMERIC = [(10, (1,)), (11, (2, 3, 2)), (12, (4, 1))]
NET = [(10, 1, 3, 5, 2, 0.0), (11, 16, 12, 7, 10, 0.05), (12, 4, 2, 3, 5, 1.0)]
