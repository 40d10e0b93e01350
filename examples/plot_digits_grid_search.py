"""
=====================================================
Digits: a Pipeline and GridSearchCV over the network
=====================================================

:class:`~sknn.MLPClassifierX` is an ordinary scikit-learn estimator, so it
goes into a :class:`~sklearn.pipeline.Pipeline` (here after a
:class:`~sklearn.preprocessing.StandardScaler`) and its parameters, including
the sknn-only ``dropout``, are tuned by
:class:`~sklearn.model_selection.GridSearchCV` with the usual
``<step>__<parameter>`` names.
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknn import MLPClassifierX

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
if FAST:
    X, y = X[:600], y[:600]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

# %%
# The pipeline and the grid: two layer sizes, two L2 strengths, two dropout
# rates, three folds: 24 fits plus the final refit on all training data.
#
# A search is many small fits, so each fit gets one kernel thread
# (``n_jobs=1``); to use more cores, run fits side by side with
# ``GridSearchCV(..., n_jobs=-1)`` instead of splitting each small batch
# across threads (see the performance page of the documentation).
pipe = make_pipeline(
    StandardScaler(),
    MLPClassifierX(max_iter=10 if FAST else 60, random_state=0, n_jobs=1),
)
param_grid = {
    "mlpclassifierx__hidden_layer_sizes": [(32,), (128,)],
    "mlpclassifierx__alpha": [1e-4, 1e-1],
    "mlpclassifierx__dropout": [0.0, 0.3],
}
search = GridSearchCV(pipe, param_grid, cv=3)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy {search.best_score_:.3f}, "
      f"test accuracy {search.score(X_test, y_test):.3f}")

# %%
# Every candidate's mean cross-validated accuracy, one panel per dropout
# rate.
results = search.cv_results_
sizes = param_grid["mlpclassifierx__hidden_layer_sizes"]
alphas = param_grid["mlpclassifierx__alpha"]
rates = param_grid["mlpclassifierx__dropout"]
scores = np.empty((len(rates), len(sizes), len(alphas)))
for params, score in zip(results["params"], results["mean_test_score"]):
    scores[rates.index(params["mlpclassifierx__dropout"]),
           sizes.index(params["mlpclassifierx__hidden_layer_sizes"]),
           alphas.index(params["mlpclassifierx__alpha"])] = score
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained", sharey=True)
for ax, rate, panel in zip(axes, rates, scores):
    im = ax.imshow(panel, vmin=scores.min() - 0.02, vmax=scores.max(),
                   cmap="viridis")
    for (i, j), s in np.ndenumerate(panel):
        ax.text(j, i, f"{s:.3f}", ha="center", va="center", color="w")
    ax.set_xticks(range(len(alphas)), [f"alpha={a:g}" for a in alphas])
    ax.set_yticks(range(len(sizes)), [f"hidden {s}" for s in sizes])
    ax.set_title(f"dropout={rate}")
fig.colorbar(im, ax=axes, label="mean CV accuracy")
plt.show()

# %%
# The refitted best pipeline is a normal fitted estimator: predict, score,
# pickle, or inspect its network.
best = search.best_estimator_
print(best)
print("epochs run:", best[-1].n_iter_, " final training loss:",
      round(best[-1].loss_, 4))
