"""
=====================================================
Locating a square: convolutional regression
=====================================================

:class:`~sknn.ConvRegressor` is the convolutional body of
:class:`~sknn.ConvClassifier` with a regression head: it predicts numbers
from an image. Here each 16x16 noisy image holds one bright 3x3 square at a
random position (:func:`sknn.datasets.make_squares`) and the two targets are
the row and the column of its centre.

The convolution filters respond to the square wherever it is; max pooling
keeps a coarse map of where they responded, and the dense layers turn that
map into coordinates. ``score`` is the coefficient of determination R² over
both coordinates.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from sknn import ConvRegressor, MLPRegressorX
from sknn.datasets import make_squares

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
n_train, n_test = (400, 200) if FAST else (1000, 300)
epochs = 10 if FAST else 40

X, y = make_squares(n_train + n_test, size=16, random_state=0)
X_train, X_test, y_train, y_test = X[:n_train], X[n_train:], y[:n_train], y[n_train:]

# %%
# A few training images, with the centre to predict marked.
fig, axes = plt.subplots(1, 6, figsize=(9, 1.9), layout="constrained")
for ax, img, (r, c) in zip(axes, X_train, y_train):
    ax.imshow(img.reshape(16, 16), cmap="gray_r")
    ax.plot(c, r, "r+", markersize=10)
    ax.set_title(f"({r:.0f}, {c:.0f})", fontsize=8)
    ax.set_axis_off()
plt.show()

# %%
# One convolution block (8 filters of 3x3, 2x2 max pooling) and 32 dense
# units; a dense network of similar size for comparison.
conv = ConvRegressor(input_shape=(16, 16), filters=(8,), hidden_layer_sizes=(32,),
                     learning_rate_init=0.003, max_iter=epochs, random_state=0)
conv.fit(X_train, y_train)
mlp = MLPRegressorX(hidden_layer_sizes=(32,), learning_rate_init=0.003,
                    max_iter=epochs, random_state=0).fit(X_train, y_train)
print(f"ConvRegressor  held-out R2 {conv.score(X_test, y_test):.3f}")
print(f"MLPRegressorX  held-out R2 {mlp.score(X_test, y_test):.3f}")

# %%
# Predicted against true positions on the held-out images: points on the
# diagonal are exact.
pred = conv.predict(X_test)
fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
for ax, k, name in zip(axes, (0, 1), ("row", "column")):
    ax.scatter(y_test[:, k], pred[:, k], s=8, alpha=0.6)
    ax.plot([0, 15], [0, 15], "k--", linewidth=1)
    ax.set_xlabel(f"true {name} of the centre")
    ax.set_ylabel(f"predicted {name}")
    ax.set_aspect("equal")
fig.suptitle("ConvRegressor on held-out images")
plt.show()
