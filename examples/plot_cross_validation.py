"""
==========================================
Cross-validating sknn next to scikit-learn
==========================================

Because :class:`~sknn.MLPClassifierX` follows the scikit-learn estimator
API, the model-selection tools work unchanged:
:func:`~sklearn.model_selection.cross_validate` clones it for each fold,
fits, scores and times it. Here it runs next to scikit-learn's
``MLPClassifier`` with the same hyperparameters and the same
``random_state``, which sknn's training loop follows draw for draw, so the
per-fold scores agree closely.
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknn import MLPClassifierX

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
if FAST:
    X, y = X[:500], y[:500]
params = dict(hidden_layer_sizes=(64,), max_iter=10 if FAST else 100,
              random_state=0)
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

# %%
# Five folds for each model.
models = {
    "sknn MLPClassifierX": make_pipeline(StandardScaler(), MLPClassifierX(**params)),
    "sklearn MLPClassifier": make_pipeline(StandardScaler(), MLPClassifier(**params)),
}
results = {name: cross_validate(model, X, y, cv=cv) for name, model in models.items()}
for name, res in results.items():
    print(f"{name:<22} accuracy {res['test_score'].mean():.3f} "
          f"± {res['test_score'].std():.3f}, "
          f"mean fit time {res['fit_time'].mean():.2f} s")

# %%
# Fold by fold: the two implementations land on nearly the same accuracy.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
folds = np.arange(1, cv.get_n_splits() + 1)
for name, res in results.items():
    axes[0].plot(folds, res["test_score"], "o-", label=name)
    axes[1].plot(folds, res["fit_time"], "o-", label=name)
axes[0].set(xlabel="fold", ylabel="test accuracy", title="accuracy per fold")
axes[1].set(xlabel="fold", ylabel="seconds", title="fit time per fold")
axes[0].legend()
plt.show()
