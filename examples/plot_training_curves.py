"""
===================================
Loss curves and validation curves
===================================

Stochastic solvers record the training objective after every epoch
(``loss_curve_``). With validation data, either held out by
``early_stopping=True`` or given to ``fit(X, y, X_val=..., y_val=...)``, the
network also records the validation score (``validation_scores_``) and the
validation objective (``validation_loss_curve_``).
:class:`sknn.inspection.TrainingCurveDisplay` draws them.

The picture tells over- from under-fitting: when the training loss keeps
falling while the validation loss levels off (or turns back up), the network
is memorising its training set. Dropout and the L2 penalty ``alpha`` narrow
that gap.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sknn import MLPClassifierX
from sknn.inspection import TrainingCurveDisplay

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
epochs = 10 if FAST else 150

X, y = load_digits(return_X_y=True)
X = X / 16.0
# A small training set makes over-fitting easy to see.
X_train, X_val, y_train, y_val = train_test_split(
    X, y, train_size=300, stratify=y, random_state=0)

# %%
# The same wide network, with and without dropout, validated on a
# user-supplied set. ``n_iter_no_change`` is large so both run every epoch.
models = {
    "no dropout": MLPClassifierX(hidden_layer_sizes=(256,), alpha=0,
                                 max_iter=epochs, n_iter_no_change=epochs,
                                 random_state=0),
    "dropout=0.5": MLPClassifierX(hidden_layer_sizes=(256,), alpha=0, dropout=0.5,
                                  max_iter=epochs, n_iter_no_change=epochs,
                                  random_state=0),
}
for model in models.values():
    model.fit(X_train, y_train, X_val=X_val, y_val=y_val)

fig, axes = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")
for row, (name, model) in zip(axes, models.items()):
    disp = TrainingCurveDisplay.from_estimator(model, ax=row[0], score_ax=row[1],
                                               name=name)
    row[0].set_yscale("log")
    print(f"{name:<12} best validation accuracy {max(model.validation_scores_):.3f}"
          f" (final {model.validation_scores_[-1]:.3f})")
plt.show()

# %%
# Early stopping holds out ``validation_fraction`` of the training data,
# stops after ``n_iter_no_change`` epochs without improvement and keeps the
# best weights. ``verbose=1`` prints the same numbers the display draws.
model = MLPClassifierX(hidden_layer_sizes=(256,), early_stopping=True,
                       n_iter_no_change=5, max_iter=epochs, verbose=1,
                       random_state=0).fit(X_train, y_train)
TrainingCurveDisplay.from_estimator(model, name="early stopping")
plt.show()
