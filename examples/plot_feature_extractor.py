"""
==================================================================
A convolutional network as a feature extractor in a pipeline
==================================================================

A fitted network is also a transformer: ``transform`` returns its *hidden
features*, the activations of the last hidden layer (the input of its output
layer), as scikit-learn's ``LinearDiscriminantAnalysis`` is both a classifier
and a transformer. So ``make_pipeline(ConvClassifier(...),
LogisticRegression())`` trains the convolutional network on the labels, then
a logistic regression on the 64 features it learned.

The digits are split by position (the first 60% of the rows train, the rest
test), so the test digits come mostly from other writers. The pipeline is
compared with the network's own softmax output and with a logistic
regression on the raw pixels; the features are plotted in 2-D next to the
pixels.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sknn import ConvClassifier

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
warnings.filterwarnings("ignore", category=ConvergenceWarning)
epochs = 3 if FAST else 30

X, y = load_digits(return_X_y=True)
X = X / 16.0
if FAST:
    X, y = X[:400], y[:400]
split = int(0.6 * len(X))
X_train, X_test, y_train, y_test = X[:split], X[split:], y[:split], y[split:]

# %%
# The pipeline: fitting it fits the network on ``(X_train, y_train)``, then
# the logistic regression on ``conv.transform(X_train)``.
pipe = make_pipeline(
    ConvClassifier(input_shape=(1, 8, 8), filters=(16, 32), hidden_layer_sizes=(64,),
                   learning_rate_init=0.003, max_iter=epochs, random_state=0),
    LogisticRegression(max_iter=2000),
)
pipe.fit(X_train, y_train)
conv = pipe[0]
pixels = LogisticRegression(max_iter=2000).fit(X_train, y_train)
print(f"ConvClassifier -> LogisticRegression  test accuracy "
      f"{pipe.score(X_test, y_test):.3f}")
print(f"ConvClassifier alone (softmax)        test accuracy "
      f"{conv.score(X_test, y_test):.3f}")
print(f"LogisticRegression on the pixels      test accuracy "
      f"{pixels.score(X_test, y_test):.3f}")

# %%
# The features have names (``get_feature_names_out``) and, with
# ``set_output(transform="pandas")``, come as a data frame.
features = pipe[:-1].set_output(transform="pandas").transform(X_test)
print(features.iloc[:3, :5].round(2).to_string())

# %%
# The 64 hidden features of the test digits and their 64 pixels, each
# projected on its first two principal components: the network's features
# gather the digits of a class.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for ax, (name, Z) in zip(axes, [("hidden features (ConvClassifier.transform)",
                                 features.to_numpy()), ("pixels", X_test)]):
    P = PCA(n_components=2).fit_transform(Z)
    points = ax.scatter(P[:, 0], P[:, 1], c=y_test, cmap="tab10", s=8)
    ax.set_title(f"test digits: {name}, PCA")
fig.colorbar(points, ax=axes, label="digit")
plt.show()
