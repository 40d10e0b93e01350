"""Data sets of the workloads, generated once per process and cached."""

import functools

import numpy as np

from ._config import SEED
from ._types import Unavailable


@functools.cache
def _cluster_centers(n_classes, n_features):
    return np.random.default_rng(SEED).normal(0.0, 1.0, (n_classes, n_features))


@functools.cache
def gaussian_clusters(n_samples, n_features, n_classes, dtype, seed=SEED + 1):
    """Return seeded Gaussian-cluster classification data.

    Parameters
    ----------
    n_samples, n_features, n_classes : int
        Shape of the data set.
    dtype : str
        ``"float32"`` or ``"float64"``.
    seed : int, default=SEED + 1
        Seed of the rows; the class centres are always the same, so rows
        drawn with another seed come from the same distribution.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous features of the requested dtype.
    y : ndarray of shape (n_samples,)
        Integer class labels (int64).
    """
    rng = np.random.default_rng(seed)
    centers = _cluster_centers(n_classes, n_features)
    y = rng.integers(0, n_classes, n_samples)
    X = centers[y] + rng.normal(0.0, 2.0, (n_samples, n_features))
    return np.ascontiguousarray(X, dtype=dtype), y


@functools.cache
def digits(dtype):
    """Return scikit-learn's digits scaled to [0, 1].

    Parameters
    ----------
    dtype : str
        ``"float32"`` or ``"float64"``.

    Returns
    -------
    X : ndarray of shape (1797, 64)
    y : ndarray of shape (1797,)
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    X = np.ascontiguousarray(data.data / 16.0, dtype=dtype)
    return X, data.target.astype(np.int64)


@functools.cache
def synthetic_images(n_samples, side, n_classes, dtype):
    """Return flattened single-channel images drawn around class templates.

    Parameters
    ----------
    n_samples, side, n_classes : int
        Number of images, their height and width, and the number of classes.
    dtype : str
        ``"float32"`` or ``"float64"``.

    Returns
    -------
    X : ndarray of shape (n_samples, side * side)
        Flat images with values mostly in [0, 1].
    y : ndarray of shape (n_samples,)
        Integer class labels.
    """
    rng = np.random.default_rng(SEED + 2)
    templates = rng.uniform(0.0, 1.0, (n_classes, side * side))
    y = rng.integers(0, n_classes, n_samples)
    X = 0.7 * templates[y] + 0.3 * rng.uniform(0.0, 1.0, (n_samples, side * side))
    return np.ascontiguousarray(X, dtype=dtype), y



def _sknn_datasets():
    """Return ``sknn.datasets``, or raise :class:`Unavailable`."""
    try:
        from sknn import datasets
    except Exception as exc:  # noqa: BLE001 - a half-written sknn may fail anyhow
        raise Unavailable(f"not available: sknn.datasets: {type(exc).__name__}: "
                          f"{exc}") from None
    return datasets


@functools.cache
def squares(n_samples, side, dtype):
    """Return ``sknn.datasets.make_squares`` images and centres, seeded.

    Parameters
    ----------
    n_samples, side : int
        Number of images and their height and width.
    dtype : str
        ``"float32"`` or ``"float64"``, of both ``X`` and ``y``.

    Returns
    -------
    X : ndarray of shape (n_samples, side * side)
        Flat one-channel images.
    y : ndarray of shape (n_samples, 2)
        Row and column of each square's centre.
    """
    X, y = _sknn_datasets().make_squares(n_samples, size=side, random_state=SEED)
    return np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(y, dtype=dtype)


@functools.cache
def color_stripes(n_samples, side, dtype):
    """Return ``sknn.datasets.make_color_stripes`` RGB images, channels last.

    Parameters
    ----------
    n_samples, side : int
        Number of images and their height and width.
    dtype : str
        ``"float32"`` or ``"float64"``.

    Returns
    -------
    X : ndarray of shape (n_samples, side, side, 3)
        C-contiguous ``(height, width, channel)`` images, as Keras keeps them.
    y : ndarray of shape (n_samples,)
        Integer class labels in ``0 .. 5`` (int64).
    """
    X, y = _sknn_datasets().make_color_stripes(n_samples, size=side,
                                               random_state=SEED)
    return np.ascontiguousarray(X, dtype=dtype), y.astype(np.int64)
