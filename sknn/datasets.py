"""Small synthetic data sets for teaching and tests."""

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_diagonal_patterns"]


def make_diagonal_patterns(n_samples, image_size=8, pattern_size=3,
                           random_state=None, *, noise=0.25, placement="anywhere"):
    """Noisy images holding one short diagonal or anti-diagonal stroke.

    Each image is ``image_size x image_size`` pixels of uniform background
    noise in ``[0, noise)`` with one ``pattern_size x pattern_size`` stroke of
    ones drawn at a random position: the main diagonal (class 0, ``\\``) or
    the anti-diagonal (class 1, ``/``).  Both classes light up the same number
    of pixels, so no single pixel and no pixel count tells them apart: a
    model has to look at *where pixels are relative to each other*, which is
    what a convolution filter does at every position of the image.

    Parameters
    ----------
    n_samples : int
        Number of images. The classes are balanced (they differ by at most
        one image).

    image_size : int, default=8
        Side of the square images, in pixels.

    pattern_size : int, default=3
        Side of the square patch holding the stroke; at least 2 and at most
        ``image_size``.

    random_state : int, RandomState instance or None, default=None
        Seeds the labels, positions and noise.

    noise : float, default=0.25
        Upper bound of the uniform background noise, in ``[0, 1)``.

    placement : {'anywhere', 'left', 'right'}, default='anywhere'
        Where the stroke's left edge may fall: anywhere, or only in the left
        or right half of the possible columns. Training on ``'left'`` and
        testing on ``'right'`` shows which models recognise a pattern at
        positions they never saw.

    Returns
    -------
    X : ndarray of shape (n_samples, image_size * image_size)
        Flattened images (row-major), values in ``[0, 1]``; reshape to
        ``(n_samples, 1, image_size, image_size)`` for a channels-first view.

    y : ndarray of shape (n_samples,)
        ``0`` for a diagonal stroke, ``1`` for an anti-diagonal stroke.

    Examples
    --------
    >>> from sknn.datasets import make_diagonal_patterns
    >>> X, y = make_diagonal_patterns(4, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((4, 64), [0, 1])
    """
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    if not 2 <= pattern_size <= image_size:
        raise ValueError(
            f"pattern_size must be in [2, image_size={image_size}], "
            f"got {pattern_size}.")
    if not 0 <= noise < 1:
        raise ValueError(f"noise must be in [0, 1), got {noise}.")
    n_pos = image_size - pattern_size + 1
    if placement == "anywhere":
        cols = np.arange(n_pos)
    elif placement in ("left", "right"):
        if n_pos < 2:
            raise ValueError("placement='left'/'right' needs image_size > pattern_size.")
        half = (n_pos + 1) // 2
        cols = np.arange(half) if placement == "left" else np.arange(half, n_pos)
    else:
        raise ValueError(
            f"placement must be 'anywhere', 'left' or 'right', got {placement!r}.")
    rs = check_random_state(random_state)
    y = rs.permutation(np.arange(n_samples) % 2)
    rows = rs.randint(0, n_pos, size=n_samples)
    left = rs.choice(cols, size=n_samples)
    X = rs.uniform(0.0, noise, size=(n_samples, image_size, image_size))
    k = np.arange(pattern_size)
    for i in range(n_samples):
        col = k if y[i] == 0 else k[::-1]
        X[i, rows[i] + k, left[i] + col] = 1.0
    return X.reshape(n_samples, -1), y
