"""Hidden tests of A4 (instructor only: never shipped in the course package).

Change the seeds and sizes in your private copy (README, "For instructors")."""

# InceptionBlock: (seed, in_channels, N, H, W)
INCEPTION = [(10, 10, 1, 12, 12), (11, 16, 3, 4, 4), (12, 2, 1, 1, 1)]

# Bottleneck: (seed, in_channels, mid_channels, out_channels, stride, N, H, W). More channels at
# stride 1 (a projection without downsampling), the same channels at stride 2 (a projection
# all the same), odd sizes that stride 2 rounds up, a 1x1 image, an identity block. N * H * W
# stays above 1 at every BatchNorm, so that training mode has batch statistics.
BOTTLENECK = [(10, 4, 2, 8, 1, 2, 6, 6), (11, 6, 3, 6, 2, 1, 7, 5), (12, 3, 8, 5, 2, 2, 1, 1),
              (13, 32, 8, 32, 1, 1, 4, 4)]

# The grader's held-out images for the CIFAR-10 CNN: 200 per class of the test split, another
# seed than the visible check's, every pixel moved by up to one grey level.
HELD_OUT = {"seed": 4321, "per_class": 200, "jitter": 1}
