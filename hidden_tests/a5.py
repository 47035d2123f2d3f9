"""Hidden tests of A5 (instructor only: never shipped in the course package).

More cases in the format of the visible ones of ``course/grading/a5.py``: other shapes (a batch
of two, one feature, 1-D and 3-D dropout inputs), other drop probabilities (0 and 0.8), other
momentum and eps values, and other optimizer hyperparameters (momentum 0 and 0.99, RMSprop with a
short memory, Adam without first-moment averaging). The references are PyTorch's, computed by
the checks; no reference implementation is needed here.
"""
# (seed, shape, p)
DROPOUT = [(10, (1, 7), 0.5), (11, (400, 100), 0.8), (12, (300, 40), 0.0), (13, (20000,), 0.15)]
# (seed, N, D, eps, momentum)
BN = [(10, 2, 3, 1e-5, 0.1), (11, 32, 1, 0.1, 0.5), (12, 5, 6, 1e-3, 1.0), (13, 64, 10, 1e-5, 0.01)]
# (seed, N, D, eps)
BNB = [(10, 2, 3, 1e-5), (11, 32, 1, 0.1), (12, 50, 12, 1e-3)]
# (seed, N, D, H, C, p, reg)
NET = [(10, 2, 3, 4, 2, 0.5, 0.0), (11, 16, 8, 12, 10, 0.0, 0.1), (12, 9, 1, 5, 4, 0.8, 0.01)]
# (seed, shape, config)
SGD_MOMENTUM = [(10, (1,), {"learning_rate": 0.002, "momentum": 0.99}),
                (11, (20,), {"learning_rate": 0.1, "momentum": 0.0}), (12, (2, 3, 2), {"momentum": 0.7})]
RMSPROP = [(10, (1,), {"learning_rate": 0.003, "decay_rate": 0.5, "epsilon": 1e-3}),
           (11, (20,), {"epsilon": 0.5}), (12, (2, 3, 2), {"decay_rate": 0.95, "learning_rate": 0.005})]
ADAM = [(10, (1,), {"learning_rate": 0.01, "beta1": 0.5, "beta2": 0.9}),
        (11, (20,), {"epsilon": 0.1, "learning_rate": 0.02}), (12, (2, 3, 2), {"beta1": 0.0, "learning_rate": 0.005})]
