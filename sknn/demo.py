"""The main job: train sknn estimators on scikit-learn's bundled digits data.

Run with ``python -m sknn.demo``.  Prints accuracy and fit time next to
scikit-learn's ``MLPClassifier`` with the same hyperparameters.
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier


def _timed_fit(est, X, y):
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start


def main():
    from sknn import MLPClassifierX

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=0)
    params = dict(hidden_layer_sizes=(100,), max_iter=200, random_state=0)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # One short fit first so the table shows steady-state speed, not the
        # one-off Numba compilation (cached on disk after the first run).
        warm = time.perf_counter()
        MLPClassifierX(max_iter=2, random_state=0).fit(X_tr, y_tr)
        warm = time.perf_counter() - warm
        for name, est in [("sknn.MLPClassifierX", MLPClassifierX(**params)),
                          ("sklearn MLPClassifier", MLPClassifier(**params))]:
            seconds = _timed_fit(est, X_tr, y_tr)
            rows.append((name, est.score(X_te, y_te), seconds))
    print(f"digits: {X_tr.shape[0]} train / {X_te.shape[0]} test samples, "
          f"hidden_layer_sizes=(100,), adam, 200 epochs")
    print(f"(first-call compile/cache load: {warm:.1f} s)")
    print(f"{'model':<24}{'test accuracy':>15}{'fit seconds':>13}")
    for name, acc, sec in rows:
        print(f"{name:<24}{acc:>15.4f}{sec:>13.2f}")
    ratio = rows[1][2] / rows[0][2]
    print(f"speed-up over scikit-learn: {ratio:.1f}x")
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
