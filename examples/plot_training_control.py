"""
==========================================================
Adam with a cosine schedule, early stopping on a metric
==========================================================

Three training controls of every sknn estimator, together:

* ``lr_schedule="cosine"`` anneals Adam's learning rate from
  ``learning_rate_init`` to 0 over ``max_iter`` epochs (Adam's bias
  correction applies on top);
* ``scoring="neg_log_loss"`` makes the validation metric (and so early
  stopping) watch the log-loss of the probabilities instead of accuracy,
  which stops changing long before the probabilities do;
* ``callbacks`` run after each epoch; here one prints a line every 10 epochs.

Every epoch is recorded in ``history_`` (one dict per epoch), so the training
log is a data frame away and the curves below are drawn from it.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from sknn import MLPClassifierX

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
warnings.filterwarnings("ignore", category=ConvergenceWarning)
epochs = 10 if FAST else 120

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_val, y_train, y_val = train_test_split(
    X, y, train_size=0.7, stratify=y, random_state=0)


def report(estimator, record):
    """Print every 10th epoch; returning True would stop training."""
    if record["epoch"] % 10 == 0:
        print(f"epoch {record['epoch']:3d}  loss {record['loss']:.4f}  "
              f"val neg_log_loss {record['validation_score']:.4f}  "
              f"lr {record['learning_rate']:.2e}")


# %%
# Constant rate against the cosine schedule, both with early stopping on the
# validation log-loss (patience 15 epochs, best weights restored).
common = dict(hidden_layer_sizes=(128,), learning_rate_init=0.003, max_iter=epochs,
              early_stopping=True, n_iter_no_change=15, scoring="neg_log_loss",
              random_state=0)
models = {
    "constant": MLPClassifierX(**common),
    "cosine": MLPClassifierX(lr_schedule="cosine", callbacks=[report], **common),
}
for name, model in models.items():
    model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    print(f"{name}: {model.n_iter_} epochs, best validation log-loss "
          f"{-model.best_validation_score_:.4f} (restored weights: "
          f"{log_loss(y_val, model.predict_proba(X_val)):.4f})")

# %%
# The curves, straight from ``history_``.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for name, model in models.items():
    epoch = [r["epoch"] for r in model.history_]
    axes[0].plot(epoch, [r["loss"] for r in model.history_], label=f"{name}, training")
    axes[0].plot(epoch, [r["validation_loss"] for r in model.history_], "--",
                 label=f"{name}, validation")
    axes[1].plot(epoch, [r["validation_score"] for r in model.history_], label=name)
    axes[2].plot(epoch, [r["learning_rate"] for r in model.history_], label=name)
axes[0].set(title="Loss", xlabel="epoch", yscale="log")
axes[1].set(title="Validation neg_log_loss (early stopping)", xlabel="epoch")
axes[2].set(title="Learning rate (before Adam's bias correction)", xlabel="epoch")
for ax in axes:
    ax.legend()
plt.show()
