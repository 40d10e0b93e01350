"""
===================================================
Diagonal patterns: hidden layers and convolution
===================================================

The "diagonal pattern" exercise: 8x8 noisy images hold one short stroke,
either a diagonal (``\\``, class 0) or an anti-diagonal (``/``, class 1), at a
random position (:func:`sknn.datasets.make_diagonal_patterns`). Both strokes
light up three pixels, so neither a single pixel nor the pixel count tells
them apart.

Two lessons:

1. A linear model cannot solve it well, while a hidden layer can: the task
   depends on pixels *together* (XOR-like), not on any pixel alone.
2. A dense network learns a separate detector for each position it has seen.
   Trained with strokes only on the left of the image, it fails on strokes on
   the right. A convolution applies the same small filter at every position
   and max pooling keeps the strongest response wherever it is, so a
   :class:`~sknn.ConvClassifier` recognises the stroke anywhere.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sknn import ConvClassifier, MLPClassifierX
from sknn.datasets import make_diagonal_patterns
from sknn.inspection import FilterDisplay

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
n_train, n_test = (300, 200) if FAST else (1000, 500)
epochs = 40 if FAST else 300

# %%
# A few images of each class.
X, y = make_diagonal_patterns(n_train, random_state=0)
fig, axes = plt.subplots(2, 6, figsize=(9, 3.2), layout="constrained")
for ax, img, label in zip(axes.ravel(), X, y):
    ax.imshow(img.reshape(8, 8), cmap="gray_r")
    ax.set_title("diagonal" if label == 0 else "anti-diagonal", fontsize=8)
    ax.set_axis_off()
plt.show()

# %%
# Lesson 1: strokes anywhere, in training and test. The linear model stays
# well short of perfect; one hidden layer solves the task.
X_test, y_test = make_diagonal_patterns(n_test, random_state=1)
linear = LogisticRegression(max_iter=1000).fit(X, y)
mlp = MLPClassifierX(hidden_layer_sizes=(64,), max_iter=epochs,
                     random_state=0).fit(X, y)
print(f"logistic regression   test accuracy {linear.score(X_test, y_test):.2f}")
print(f"MLP, 64 hidden units  test accuracy {mlp.score(X_test, y_test):.2f}")

# %%
# Lesson 2: train on strokes in the left part of the image only, test on
# strokes in the right part. The dense network never saw those pixels light
# up and is close to chance; the convolutional network's filters slide over
# the whole image.
X_left, y_left = make_diagonal_patterns(n_train, placement="left", random_state=2)
X_right, y_right = make_diagonal_patterns(n_test, placement="right", random_state=3)
mlp = MLPClassifierX(hidden_layer_sizes=(64,), max_iter=epochs,
                     random_state=0).fit(X_left, y_left)
conv = ConvClassifier(input_shape=(1, 8, 8), filters=(4,), kernel_size=3,
                      pool="max", hidden_layer_sizes=(16,), max_iter=epochs,
                      random_state=0).fit(X_left, y_left)
for name, model in [("MLPClassifierX", mlp), ("ConvClassifier", conv)]:
    print(f"{name:<16} left (seen) {model.score(X_left, y_left):.2f}   "
          f"right (unseen) {model.score(X_right, y_right):.2f}")

# %%
# The four learned 3x3 filters: diagonal and anti-diagonal detectors appear
# (red weights excite, blue inhibit), and their feature maps light up where
# the stroke is, whatever its position.
FilterDisplay.from_estimator(conv, X_right, ncols=4)
plt.show()
