"""
=====================================================
Convolutional network on digits: filters and maps
=====================================================

:class:`~sknn.ConvClassifier` reads each flat row of ``X`` as an image of
``input_shape = (channels, height, width)``: the 64 pixels of a digit become
a ``(1, 8, 8)`` image. Two convolution layers (16 then 32 filters of 3x3,
each followed by a 2x2 max pooling) feed a dense hidden layer of 64 units.

After fitting, ``coefs_[0]`` holds the first layer's filters with shape
``(out_channels, in_channels, kernel_h, kernel_w)``;
:class:`sknn.inspection.FilterDisplay` draws them, and the feature maps they
produce on one digit.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sknn import ConvClassifier, MLPClassifierX
from sknn.inspection import FilterDisplay, TrainingCurveDisplay

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
epochs = 5 if FAST else 40

X, y = load_digits(return_X_y=True)
X = X / 16.0
if FAST:
    X, y = X[:500], y[:500]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)

# %%
# The convolutional network and a dense network of similar size.
conv = ConvClassifier(input_shape=(1, 8, 8), filters=(16, 32), kernel_size=3,
                      pool="max", hidden_layer_sizes=(64,), max_iter=epochs,
                      random_state=0)
conv.fit(X_train, y_train)
mlp = MLPClassifierX(hidden_layer_sizes=(64,), max_iter=epochs,
                     random_state=0).fit(X_train, y_train)
print(f"ConvClassifier  test accuracy {conv.score(X_test, y_test):.3f}")
print(f"MLPClassifierX  test accuracy {mlp.score(X_test, y_test):.3f}")
print("first-layer filters:", conv.coefs_[0].shape)

# %%
# The 16 first-layer filters (red weights excite, blue inhibit: edge and
# stroke detectors) and their feature maps on the first test digit.
FilterDisplay.from_estimator(conv, X_test)
plt.show()

# %%
# The training loss per epoch.
TrainingCurveDisplay.from_estimator(conv)
plt.show()
