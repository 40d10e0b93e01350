"""
=====================================================
Colour images in channels-last layout
=====================================================

Image libraries (PIL, matplotlib, Keras) store a colour image as
``(height, width, channels)``. :func:`sknn.datasets.make_color_stripes`
draws such RGB images: red, green or blue stripes, horizontal or vertical,
six classes in all, so a model needs both the colour channels and where the
pixels are.

``data_format="channels_last"`` tells :class:`~sknn.ConvClassifier` that the
last axis of ``X`` holds the channels; ``input_shape`` (when given) and flat
rows follow the same order. The network itself runs on channels-first images
(``X`` is transposed once, when it is validated), so it gives the same
predictions, bit for bit, as ``data_format="channels_first"`` on
``X.transpose(0, 3, 1, 2)``. Read as channels-first by mistake, an array of
shape ``(n, 16, 16, 3)`` would be 16 channels of 16x3 images: sknn warns.

Global average pooling (``global_pool="avg"``) reduces each feature map to
its mean, so the output layer sees one value per filter.
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sknn import ConvClassifier
from sknn.datasets import make_color_stripes

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
n_train, n_test = (300, 150) if FAST else (900, 300)
epochs = 10 if FAST else 40
names = [f"{c} {o}" for c in ("red", "green", "blue")
         for o in ("horizontal", "vertical")]

X, y = make_color_stripes(n_train + n_test, size=16, random_state=0)
X_train, X_test, y_train, y_test = X[:n_train], X[n_train:], y[:n_train], y[n_train:]
print("X:", X.shape, "(samples, height, width, channels)")

# %%
# matplotlib draws channels-last arrays as they are.
fig, axes = plt.subplots(1, 6, figsize=(9, 1.9), layout="constrained")
for ax, label in zip(axes, range(6)):
    ax.imshow(X_train[np.flatnonzero(y_train == label)[0]])
    ax.set_title(names[label], fontsize=8)
    ax.set_axis_off()
plt.show()

# %%
# Two convolution blocks (the second without pooling), global average
# pooling and the softmax output.
clf = ConvClassifier(data_format="channels_last", filters=(8, 16), kernel_size=3,
                     pool=["max", None], global_pool="avg", hidden_layer_sizes=(),
                     learning_rate_init=0.01, max_iter=epochs, random_state=0)
clf.fit(X_train, y_train)
print("input_shape_:", clf.input_shape_)
print(f"held-out accuracy {clf.score(X_test, y_test):.3f}")

# The same network on the channels-first view of the same images.
first = ConvClassifier(data_format="channels_first", filters=(8, 16), kernel_size=3,
                       pool=["max", None], global_pool="avg", hidden_layer_sizes=(),
                       learning_rate_init=0.01, max_iter=epochs, random_state=0)
first.fit(X_train.transpose(0, 3, 1, 2), y_train)
same = np.array_equal(first.predict_proba(X_test.transpose(0, 3, 1, 2)),
                      clf.predict_proba(X_test))
print("channels-first on transposed images, identical probabilities:", same)

# %%
# The first layer's 8 filters, one RGB patch each (weights rescaled to
# [0, 1]): each filter picks a colour and an orientation.
w = clf.coefs_[0].transpose(0, 2, 3, 1)  # (filters, kh, kw, RGB) to draw
fig, axes = plt.subplots(1, 8, figsize=(9, 1.5), layout="constrained")
for ax, f in zip(axes, w):
    ax.imshow((f - w.min()) / (w.max() - w.min()))
    ax.set_axis_off()
fig.suptitle("first-layer filters")
plt.show()
