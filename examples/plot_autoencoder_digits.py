"""
=============================================
Autoencoder on digits: codes and denoising
=============================================

An autoencoder is a network trained to output its own input through a narrow
middle layer, the *code*. :class:`~sknn.AutoEncoderTransformer` is a
scikit-learn transformer: ``transform`` maps images to codes (the encoder),
``inverse_transform`` maps codes back to images (the decoder).

Three uses on the digits: a 2-D code to look at (next to PCA's), the
reconstructions from a larger code, and denoising (``noise``).
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sknn import AutoEncoderTransformer

FAST = os.environ.get("SKNN_EXAMPLES_FAST", "") not in ("", "0")
# The epoch budgets here are deliberately short; silence the warning that
# says training stopped at max_iter before converging.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
epochs = 5 if FAST else 200

X, y = load_digits(return_X_y=True)
X = X / 16.0
if FAST:
    X, y = X[:500], y[:500]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)

# %%
# A 2-D code: the encoder ``64 -> 64 -> 2`` and the decoder ``2 -> 64 -> 64``
# learn together. Unlike PCA's linear projection, the autoencoder can bend
# the space so digits of one class gather. (``learning_rate_init=0.01``: the
# reconstruction loss is small and flat, and with Adam's default step the
# stopping rule ends training early.)
ae2 = AutoEncoderTransformer(n_components=2, hidden_layer_sizes=(64,),
                             learning_rate_init=0.01, max_iter=epochs,
                             random_state=0).fit(X_train)
pca2 = PCA(n_components=2).fit(X_train)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for ax, (name, model) in zip(axes, [("AutoEncoderTransformer", ae2), ("PCA", pca2)]):
    Z = model.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=10)
    err = np.mean((model.inverse_transform(Z) - X_test) ** 2)
    ax.set_title(f"{name}: 2-D code, reconstruction MSE {err:.4f}")
fig.colorbar(points, ax=axes, label="digit")
plt.show()

# %%
# Original digits (top) and their reconstructions from a 16-number code
# (bottom).
ae16 = AutoEncoderTransformer(n_components=16, hidden_layer_sizes=(64,),
                              learning_rate_init=0.01, max_iter=epochs,
                              random_state=0).fit(X_train)
X_rec = ae16.inverse_transform(ae16.transform(X_test))
print(f"16-D code: reconstruction MSE {np.mean((X_rec - X_test) ** 2):.4f}")


def show_rows(rows, titles):
    fig, axes = plt.subplots(len(rows), 10, figsize=(10, 1.1 * len(rows) + 0.3),
                             layout="constrained")
    for r, (images, title) in enumerate(zip(rows, titles)):
        for c in range(10):
            axes[r, c].imshow(images[c].reshape(8, 8), cmap="gray_r",
                              vmin=0, vmax=1)
            axes[r, c].set_axis_off()
        axes[r, 0].set_title(title, fontsize=9, loc="left")
    plt.show()


show_rows([X_test, X_rec], ["original", "reconstruction (16-D code)"])

# %%
# Denoising. An autoencoder trained on clean digits already maps a corrupted
# digit back toward the digits it knows, because its code has little room
# for the noise. A *denoising* autoencoder does better: with ``noise=0.3``
# every training input is corrupted by Gaussian noise (fresh each epoch)
# while the target stays the clean digit, so the network learns to remove
# exactly this kind of corruption.
rng = np.random.RandomState(0)
X_noisy = np.clip(X_test + rng.normal(scale=0.3, size=X_test.shape), 0, 1)
dae16 = AutoEncoderTransformer(n_components=16, hidden_layer_sizes=(64,),
                               noise=0.3, learning_rate_init=0.01, max_iter=epochs,
                               random_state=0).fit(X_train)
X_plain = ae16.inverse_transform(ae16.transform(X_noisy))
X_denoised = dae16.inverse_transform(dae16.transform(X_noisy))
for name, images in [("noisy input", X_noisy), ("plain autoencoder", X_plain),
                     ("denoising autoencoder", X_denoised)]:
    print(f"{name:<22} MSE to the clean digits {np.mean((images - X_test) ** 2):.4f}")
show_rows([X_test, X_noisy, X_plain, X_denoised],
          ["clean", "noisy", "plain autoencoder", "denoising autoencoder (noise=0.3)"])
