"""
==================================================================
Greedy layer-wise pretraining with stacked autoencoders
==================================================================

Labels are often scarce while unlabelled data is plentiful. *Greedy
layer-wise pretraining* (Bengio et al., 2007) learns the hidden layers of a
network from the unlabelled data first, one layer at a time, each as the code
of a small autoencoder; the labels then only *fine-tune* the network.

Here, on the digits, 70% of the images form the training pool, of which only
10% keep their labels (about 125 images); the other 30% are held out:

1. an :class:`~sknn.AutoEncoderTransformer` learns a 32-unit code of the
   images, a second one a 16-unit code of those codes;
2. the two encoders (and decoders) are stacked into one deep autoencoder
   ``64 -> 32 -> 16 -> 32 -> 64``, briefly trained end to end;
3. ``MLPClassifierX(hidden_layer_sizes=(32, 16), init=stacked)`` starts its
   hidden layers from the stacked encoder and is fine-tuned on the 10% of
   labels, against the same network from random initialisation on the same
   labels (and, with ``frozen_layers=2``, a network that trains only its
   output layer on the pretrained features).

The held-out accuracy of each is printed, whichever wins; it depends on the
data, the amount of labels and the architecture.
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sknn import AutoEncoderTransformer, MLPClassifierX

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
warnings.filterwarnings("ignore", category=ConvergenceWarning)
epochs = 5 if FAST else 200
seeds = (0,) if FAST else (0, 1, 2)

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_pool, X_test, y_pool, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)
X_lab, _, y_lab, _ = train_test_split(
    X_pool, y_pool, train_size=0.1, stratify=y_pool, random_state=0)
print(f"{len(X_pool)} training images, {len(X_lab)} of them labelled; "
      f"{len(X_test)} held out")

# %%
# Greedy, one layer at a time, on all the training images (no labels): the
# first autoencoder codes the pixels, the second codes the first one's codes.
# The codes use the logistic activation that the classifier's hidden layers
# will use.
common = dict(code_activation="logistic", learning_rate_init=0.01, tol=1e-6,
              max_iter=epochs, random_state=0)
ae1 = AutoEncoderTransformer(n_components=32, hidden_layer_sizes=(), **common)
ae1.fit(X_pool)
ae2 = AutoEncoderTransformer(n_components=16, hidden_layer_sizes=(), **common)
ae2.fit(ae1.transform(X_pool))

# %%
# Stack them: the deep autoencoder's layers are the first encoder, the
# second encoder, the second decoder and the first decoder. Assigning
# ``coefs_`` / ``intercepts_`` and fitting with ``warm_start=True`` continues
# from those weights (a short end-to-end training of the whole stack).
stacked = AutoEncoderTransformer(
    n_components=16, hidden_layer_sizes=(32,), activation="logistic",
    code_activation="logistic", learning_rate_init=0.003, tol=1e-6,
    max_iter=max(epochs // 2, 1), warm_start=True, random_state=0)
stacked.coefs_ = [ae1.coefs_[0], ae2.coefs_[0], ae2.coefs_[1], ae1.coefs_[1]]
stacked.intercepts_ = [ae1.intercepts_[0], ae2.intercepts_[0], ae2.intercepts_[1],
                       ae1.intercepts_[1]]
stacked.fit(X_pool)
print(f"reconstruction error: first autoencoder {-ae1.score(X_test):.4f}, "
      f"stacked {-stacked.score(X_test):.4f}")

# %%
# Fine-tuning on the 10% of labels. The encoder's layers are 64 -> 32 -> 16,
# so the classifier's ``hidden_layer_sizes`` starts with ``(32, 16)``; its
# output layer starts at random. The held-out set is passed as ``X_val`` only
# to record the accuracy per epoch (no early stopping).
variants = {
    "random initialisation": dict(init="glorot_uniform"),
    "pretrained, fine-tuned": dict(init=stacked),
    "pretrained, frozen (output layer only)": dict(init=stacked, frozen_layers=2),
}
curves, scores = {}, {}
for name, params in variants.items():
    scores[name] = []
    for seed in seeds:
        clf = MLPClassifierX(hidden_layer_sizes=(32, 16), activation="logistic",
                             learning_rate_init=0.01, alpha=1e-3, max_iter=epochs,
                             random_state=seed, **params)
        clf.fit(X_lab, y_lab, X_val=X_test, y_val=y_test)
        scores[name].append(clf.score(X_test, y_test))
        if seed == seeds[0]:
            curves[name] = clf.validation_scores_
for name, s in scores.items():
    print(f"{name:<40} held-out accuracy {np.mean(s):.3f} "
          f"(seeds: {', '.join(f'{v:.3f}' for v in s)})")
best = max(scores, key=lambda name: np.mean(scores[name]))
print(f"best on this split: {best}")

# %%
# Held-out accuracy during fine-tuning (first seed), and the 32 features of
# the first autoencoder (the columns of its first weight matrix, as 8x8
# images), which the pretrained classifiers start from.
fig = plt.figure(figsize=(11, 4.5), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1.3, 1])
ax = left.subplots()
for name, curve in curves.items():
    ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("held-out accuracy")
ax.set_title(f"MLPClassifierX on {len(X_lab)} labelled digits")
ax.legend(loc="lower right")
axes = right.subplots(4, 8)
W = ae1.coefs_[0]
for k, a in enumerate(axes.ravel()):
    v = np.abs(W[:, k]).max()
    a.imshow(W[:, k].reshape(8, 8), cmap="RdBu_r", vmin=-v, vmax=v)
    a.set_axis_off()
right.suptitle("first autoencoder's 32 features")
plt.show()
