"""Small synthetic data sets for teaching and tests."""

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_color_stripes", "make_diagonal_patterns", "make_squares"]


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


def make_squares(n_samples, size=16, square_size=3, random_state=None, *, noise=0.2):
    """Noisy images holding one bright square; the target is its centre.

    Each image is ``size x size`` pixels of uniform background noise in
    ``[0, noise)`` with one ``square_size x square_size`` square of ones at a
    random position (anywhere it fits). The targets are the (row, column)
    of the square's centre, in pixels: a regression task whose answer is
    *where* a pattern is, which a convolution finds at every position and
    the layers after it turn into coordinates.

    Parameters
    ----------
    n_samples : int
        Number of images.

    size : int, default=16
        Side of the square images, in pixels.

    square_size : int, default=3
        Side of the bright square; in ``[1, size]``.

    random_state : int, RandomState instance or None, default=None
        Seeds the positions and the noise.

    noise : float, default=0.2
        Upper bound of the uniform background noise, in ``[0, 1)``.

    Returns
    -------
    X : ndarray of shape (n_samples, size * size)
        Flattened images (row-major), values in ``[0, 1]``; reshape to
        ``(n_samples, 1, size, size)`` for a channels-first view.

    y : ndarray of shape (n_samples, 2)
        Row and column of the square's centre, in
        ``[(square_size - 1) / 2, size - 1 - (square_size - 1) / 2]``.

    Examples
    --------
    >>> from sknn.datasets import make_squares
    >>> X, y = make_squares(3, size=8, random_state=0)
    >>> X.shape, y.shape
    ((3, 64), (3, 2))
    """
    n_samples = _n_samples(n_samples)
    if not 1 <= square_size <= size:
        raise ValueError(
            f"square_size must be in [1, size={size}], got {square_size}.")
    _check_noise(noise)
    rs = check_random_state(random_state)
    corner = rs.randint(0, size - square_size + 1, size=(n_samples, 2))
    X = rs.uniform(0.0, noise, size=(n_samples, size, size))
    for i, (r, c) in enumerate(corner):
        X[i, r:r + square_size, c:c + square_size] = 1.0
    y = corner + (square_size - 1) / 2.0
    return X.reshape(n_samples, -1), y


# Pure colours of the stripes of ``make_color_stripes``, one per class pair.
_STRIPE_COLORS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def make_color_stripes(n_samples, size=16, random_state=None, *, noise=0.3):
    """Noisy RGB images of coloured stripes, channels last.

    Each image is ``size x size x 3`` (height, width, RGB channel) of uniform
    grey-level noise in ``[0, noise)`` per channel, with stripes one pixel
    wide, every other row or column from a random offset, in pure red, green
    or blue. The class combines colour and orientation: ``2 * colour +
    orientation`` (colour 0 red, 1 green, 2 blue; orientation 0 horizontal,
    1 vertical), six classes. Neither the colour alone (a channel's mean) nor
    the orientation alone (a grey-level pattern) tells them apart, so a model
    needs the channels *and* their spatial layout.

    Parameters
    ----------
    n_samples : int
        Number of images. The classes are balanced (they differ by at most
        one image).

    size : int, default=16
        Side of the square images, in pixels; at least 2.

    random_state : int, RandomState instance or None, default=None
        Seeds the classes, offsets and noise.

    noise : float, default=0.3
        Upper bound of the uniform noise, in ``[0, 1)``.

    Returns
    -------
    X : ndarray of shape (n_samples, size, size, 3)
        Images in ``(height, width, channel)`` order (matplotlib's and
        Keras's layout), values in ``[0, 1]``: fit with
        ``data_format='channels_last'``.

    y : ndarray of shape (n_samples,)
        Class labels in ``0 .. 5``.

    Examples
    --------
    >>> from sknn.datasets import make_color_stripes
    >>> X, y = make_color_stripes(6, random_state=0)
    >>> X.shape, sorted(y.tolist())
    ((6, 16, 16, 3), [0, 1, 2, 3, 4, 5])
    """
    n_samples = _n_samples(n_samples)
    if size < 2:
        raise ValueError(f"size must be at least 2, got {size}.")
    _check_noise(noise)
    rs = check_random_state(random_state)
    y = rs.permutation(np.arange(n_samples) % 6)
    offset = rs.randint(0, 2, size=n_samples)
    X = rs.uniform(0.0, noise, size=(n_samples, size, size, 3))
    for i in range(n_samples):
        color = _STRIPE_COLORS[y[i] // 2]
        lines = slice(offset[i], None, 2)
        if y[i] % 2 == 0:
            X[i, lines, :, :] = color
        else:
            X[i, :, lines, :] = color
    return X, y


def _n_samples(n_samples):
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    return n_samples


def _check_noise(noise):
    if not 0 <= noise < 1:
        raise ValueError(f"noise must be in [0, 1), got {noise}.")
