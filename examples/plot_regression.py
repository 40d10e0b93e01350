"""
=================================
Regression with MLPRegressorX
=================================

:class:`~sknn.MLPRegressorX` fits a network with an identity output and the
squared error loss (or ``loss='poisson'`` for counts). First a noisy 1-D
curve, to see what the hidden units do; then scikit-learn's bundled diabetes
data, next to a ridge regression and scikit-learn's own ``MLPRegressor``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknn import MLPRegressorX

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")

# %%
# A noisy sine. The activation shapes the fit: ``relu`` units bend the
# curve at kinks (a piecewise-linear fit), ``tanh`` units give a smooth one.
rng = np.random.RandomState(0)
x = np.sort(rng.uniform(-3, 3, size=100 if FAST else 300))[:, None]
y = np.sin(2 * x[:, 0]) + 0.2 * rng.normal(size=x.shape[0])
grid = np.linspace(-3.5, 3.5, 400)[:, None]

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.scatter(x, y, s=8, color="0.6", label="data")
for activation in ["relu", "tanh"]:
    reg = MLPRegressorX(hidden_layer_sizes=(32, 32), activation=activation,
                        solver="lbfgs", max_iter=200 if FAST else 2000,
                        random_state=0).fit(x, y)
    ax.plot(grid, reg.predict(grid), lw=2,
            label=f"{activation}: R² {reg.score(x, y):.2f}")
ax.plot(grid, np.sin(2 * grid), "k--", lw=1, label="sin(2x)")
ax.legend()
plt.show()

# %%
# Per-layer activations are an sknn extension: a list gives one activation
# per hidden layer.
reg = MLPRegressorX(hidden_layer_sizes=(32, 32), activation=["tanh", "relu"],
                    solver="lbfgs", max_iter=200 if FAST else 2000,
                    random_state=0).fit(x, y)
print(f"tanh then relu: training R² {reg.score(x, y):.3f}")

# %%
# The diabetes data: 442 patients, 10 standardised features, a disease
# progression score. Networks need scaled inputs *and* a reasonably scaled
# target; ``TransformedTargetRegressor`` would do it for us, here the target
# is divided by its standard deviation by hand.
X, y = load_diabetes(return_X_y=True)
y = y / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
epochs = 50 if FAST else 500
models = {
    "RidgeCV": make_pipeline(StandardScaler(), RidgeCV()),
    "MLPRegressorX": make_pipeline(StandardScaler(), MLPRegressorX(
        hidden_layer_sizes=(32,), alpha=1.0, early_stopping=True,
        max_iter=epochs, random_state=0)),
    "sklearn MLPRegressor": make_pipeline(StandardScaler(), MLPRegressor(
        hidden_layer_sizes=(32,), alpha=1.0, early_stopping=True,
        max_iter=epochs, random_state=0)),
}
for name, model in models.items():
    model.fit(X_train, y_train)
    print(f"{name:<22} test R² {model.score(X_test, y_test):.3f}")

# %%
# On 330 training rows of nearly linear data a linear model is hard to
# beat, and the network falls short of it (with the same score as
# scikit-learn's, since both follow the same steps). Networks pay off with
# more data and non-linear structure, as in the sine above.
