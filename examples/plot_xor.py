"""
=================================
XOR: why a hidden layer is needed
=================================

The label of a point is 1 when its two coordinates have the same sign and 0
otherwise: the XOR of two signs. No straight line separates the classes, so
any linear model (logistic regression, or a network without hidden layers)
stays near chance. One small hidden layer is enough: each hidden unit draws
one line, and the output combines the half-planes into the four quadrants.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from sknn import MLPClassifierX

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")

# %%
# The data: 400 points in the square, labelled by the XOR of their signs.
rng = np.random.RandomState(0)
n = 120 if FAST else 400
X = rng.uniform(-1, 1, size=(n, 2))
y = (X[:, 0] * X[:, 1] > 0).astype(int)

# %%
# Three models: a logistic regression, an ``MLPClassifierX`` with no hidden
# layer (``hidden_layer_sizes=()``: the same linear model, trained by the
# network code) and one with a hidden layer of 8 ``tanh`` units. L-BFGS
# suits such a small problem.
models = {
    "logistic regression": LogisticRegression(),
    "MLPClassifierX, no hidden layer": MLPClassifierX(
        hidden_layer_sizes=(), solver="lbfgs", random_state=0),
    "MLPClassifierX, 8 hidden units": MLPClassifierX(
        hidden_layer_sizes=(8,), activation="tanh", solver="lbfgs",
        max_iter=200 if FAST else 1000, random_state=0),
}
for name, model in models.items():
    model.fit(X, y)
    print(f"{name:<34} training accuracy {model.score(X, y):.2f}")

# %%
# The decision regions show why: the linear models can only cut the square
# in two with one line; the hidden layer combines several lines.
xx, yy = np.meshgrid(np.linspace(-1, 1, 200), np.linspace(-1, 1, 200))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
for ax, (name, model) in zip(axes, models.items()):
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=20, cmap="RdBu_r", alpha=0.6)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolor="k", s=15)
    ax.set_title(f"{name}\naccuracy {model.score(X, y):.2f}")
    ax.set_aspect("equal")
plt.show()

# %%
# The hidden layer's weights: one column per hidden unit, i.e. one line
# ``w1 * x1 + w2 * x2 + b = 0`` in the plane.
mlp = models["MLPClassifierX, 8 hidden units"]
print(np.round(mlp.coefs_[0], 2))
print(np.round(mlp.intercepts_[0], 2))
