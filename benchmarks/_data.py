"""Data sets of the workloads, generated once per process and cached."""

import functools

import numpy as np

from ._config import SEED


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

