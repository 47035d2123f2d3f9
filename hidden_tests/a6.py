"""Hidden tests of A6 (instructor only: never shipped in the course package).

Loaded by ``course.grading.hidden`` when a test cell's hidden line runs a check with
``hidden=True``. Each list holds more cases in the format of the check's visible ones;
``reference_conv_naive`` is the grader's own naive loop, timed beside the learner's naive version
to bound it (``course.grading.a6``: slowing the naive version down earns no speed points).
"""
import numpy as np

# (seed, N, C, H, W, F, HH, WW, stride, pad): a 1x1 kernel; a kernel as large as the image (1x1
# output); stride 3; padding 3 with a 5x3 kernel and sizes stride 2 does not divide; a wide kernel
# with stride 3 that leaves columns over; a batch of one with one channel and one filter
CONV = [(10, 2, 4, 5, 6, 3, 1, 1, 1, 0), (11, 3, 2, 6, 9, 2, 6, 9, 1, 0), (12, 2, 2, 10, 10, 3, 3, 3, 3, 1),
        (13, 1, 4, 7, 5, 6, 5, 3, 2, 3), (14, 3, 1, 11, 8, 2, 2, 5, 3, 2), (15, 1, 1, 5, 5, 1, 3, 3, 1, 1)]
# (seed, N, C, H, W, pool_height, pool_width, stride): a window as large as the image; 3x3 stride 3;
# sizes stride 2 does not divide; 1x1 windows (the identity); a tall window with overlap
POOL = [(10, 2, 3, 4, 4, 4, 4, 4), (11, 3, 2, 9, 9, 3, 3, 3), (12, 2, 4, 7, 10, 2, 2, 2),
        (13, 1, 2, 5, 6, 1, 1, 1), (14, 1, 1, 8, 5, 4, 2, 1)]


def reference_conv_naive(x, w, b, conv_param, dout):
    """The four-loop convolution, forward and backward: (out, dx, dw, db). Timed by the grader."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    r, c, g = i * stride, j * stride, dout[n, f, i, j]
                    dxp[n, :, r:r + HH, c:c + WW] += w[f] * g
                    dw[f] += xp[n, :, r:r + HH, c:c + WW] * g
    return out, dxp[:, :, pad:pad + H, pad:pad + W], dw, dout.sum(axis=(0, 2, 3))
