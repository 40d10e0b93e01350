"""The main job: train every sknn estimator on scikit-learn's bundled digits.

Run with ``python -m sknn.demo`` (``--help`` for options).  It trains

* an ``MLPClassifierX`` in a ``Pipeline`` with a small ``GridSearchCV``,
  then the best setting once more next to scikit-learn's ``MLPClassifier``;
* a ``ConvClassifier`` on the 8x8 images;
* an ``AutoEncoderTransformer`` with a 2-D code feeding a classifier, next to
  ``PCA`` with two components feeding the same classifier;

prints one table (test accuracy, reconstruction error, fit seconds) and
writes a figure (learning curves, learned filters, the 2-D code) to a path it
prints.  Estimators that this installation lacks get a row saying so, and
without matplotlib the figure is skipped with a note.
"""

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DEFAULT_FIGURE = "sknn-demo.png"


def _optional(name):
    """``sknn.<name>`` or None when this installation does not have it yet."""
    import sknn

    return getattr(sknn, name, None)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


class Row:
    """One line of the results table."""

    def __init__(self, model, accuracy=None, recon=None, seconds=None, note=""):
        self.model = model
        self.accuracy = accuracy
        self.recon = recon
        self.seconds = seconds
        self.note = note


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(rows):
    """The results table as text (one header line, one line per row)."""
    lines = [f"{'model':<52}{'accuracy':>10}{'recon MSE':>11}{'fit s':>8}  note"]
    for r in rows:
        lines.append(f"{r.model:<52}{_fmt(r.accuracy, '.4f'):>10}"
                     f"{_fmt(r.recon, '.4f'):>11}{_fmt(r.seconds, '.2f'):>8}"
                     f"  {r.note}".rstrip())
    return "\n".join(lines)


def _mlp_rows(data, epochs, fast):
    from sknn import MLPClassifierX

    X_tr, X_te, y_tr, y_te = data
    # A search is many small fits: one kernel thread each (threads pay off on
    # larger batches and layers; see the performance page of the docs).
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifierX(max_iter=epochs, random_state=0, n_jobs=1))
    grid = {"mlpclassifierx__hidden_layer_sizes": [(64,), (128,)],
            "mlpclassifierx__alpha": [1e-4, 1e-2] if not fast else [1e-4],
            "mlpclassifierx__dropout": [0.0, 0.2]}
    search = GridSearchCV(pipe, grid, cv=3)
    _, seconds = _timed(lambda: search.fit(X_tr, y_tr))
    n_fits = 3 * int(np.prod([len(v) for v in grid.values()])) + 1
    best = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
    best_txt = ", ".join(f"{k}={v}" for k, v in best.items())
    rows = [Row("sknn MLPClassifierX pipeline + GridSearchCV",
                search.score(X_te, y_te), None, seconds,
                f"{n_fits} fits, n_jobs=1 each; best {best_txt}")]
    # The best setting alone, timed next to scikit-learn with the same
    # hyperparameters (dropout is sknn-only, so scikit-learn gets none).
    mlp = make_pipeline(StandardScaler(), MLPClassifierX(
        max_iter=epochs, random_state=0, early_stopping=True,
        n_iter_no_change=epochs, **best))
    _, sec = _timed(lambda: mlp.fit(X_tr, y_tr))
    rows.append(Row("sknn MLPClassifierX (best setting, 1 fit)",
                    mlp.score(X_te, y_te), None, sec,
                    "early_stopping=True for the validation curve"))
    sk_params = {k: v for k, v in best.items() if k != "dropout"}
    sk = make_pipeline(StandardScaler(), MLPClassifier(
        max_iter=epochs, random_state=0, early_stopping=True,
        n_iter_no_change=epochs, **sk_params))
    _, sec = _timed(lambda: sk.fit(X_tr, y_tr))
    rows.append(Row("sklearn MLPClassifier (same setting)", sk.score(X_te, y_te),
                    None, sec, "reference"))
    return rows, {"mlp": mlp[-1], "sklearn_mlp": sk[-1]}


def _conv(epochs):
    """The demo's CNN, or None when this sknn has no ConvClassifier."""
    ConvClassifier = _optional("ConvClassifier")
    if ConvClassifier is None:
        return None
    return ConvClassifier(input_shape=(1, 8, 8), filters=(16, 32), kernel_size=3,
                          pool="max", hidden_layer_sizes=(64,), max_iter=epochs,
                          random_state=0)


def _autoencoder(epochs):
    """The demo's autoencoder, or None when this sknn has none."""
    AutoEncoderTransformer = _optional("AutoEncoderTransformer")
    if AutoEncoderTransformer is None:
        return None
    # A larger step than Adam's default: the reconstruction loss is small and
    # flat, and with 0.001 training stalls (by ``tol``) early.
    return AutoEncoderTransformer(n_components=2, hidden_layer_sizes=(64,),
                                  learning_rate_init=0.01, max_iter=epochs,
                                  random_state=0)


def _warm_up(X, y):
    """Short fits that compile (or load from Numba's cache) the kernels of
    the timed fits, so the table shows steady-state speed.

    The MLP's uses early stopping, as the timed single fit does: its
    validation passes need kernels a plain fit does not (without it a new
    user's first run timed their compilation and printed "0.8x").
    """
    from sknn import MLPClassifierX

    MLPClassifierX(max_iter=2, random_state=0, early_stopping=True).fit(X, y)
    for model in (_conv(1), _autoencoder(1)):
        if model is not None:
            model.fit(X[:200], y[:200])


def _conv_rows(data, epochs):
    conv = _conv(epochs)
    if conv is None:
        return [Row("sknn ConvClassifier", note="skipped: not in this sknn yet")], {}
    X_tr, X_te, y_tr, y_te = data
    _, sec = _timed(lambda: conv.fit(X_tr, y_tr))
    return [Row("sknn ConvClassifier (16, 32 filters, max pool)",
                conv.score(X_te, y_te), None, sec)], {"conv": conv}


def _recon_mse(model, X):
    return float(np.mean((model.inverse_transform(model.transform(X)) - X) ** 2))


def _code_rows(data, epochs):
    X_tr, X_te, y_tr, y_te = data
    rows, models = [], {}
    ae = _autoencoder(epochs)
    if ae is None:
        rows.append(Row("sknn AutoEncoderTransformer(2) + LogisticRegression",
                        note="skipped: not in this sknn yet"))
    else:
        pipe = make_pipeline(ae, StandardScaler(), LogisticRegression(max_iter=1000))
        _, sec = _timed(lambda: pipe.fit(X_tr, y_tr))
        rows.append(Row("sknn AutoEncoderTransformer(2) + LogisticRegression",
                        pipe.score(X_te, y_te), _recon_mse(ae, X_te), sec))
        models["autoencoder"] = ae
    pca = PCA(n_components=2, random_state=0)
    pipe = make_pipeline(pca, StandardScaler(), LogisticRegression(max_iter=1000))
    _, sec = _timed(lambda: pipe.fit(X_tr, y_tr))
    rows.append(Row("sklearn PCA(2) + LogisticRegression", pipe.score(X_te, y_te),
                    _recon_mse(pca, X_te), sec, "reference"))
    models["pca"] = pca
    return rows, models


def write_figure(models, data, path):
    """Learning curves, learned filters and the 2-D code in one PNG.

    Returns the path written, or None when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from sknn.inspection import FilterDisplay, TrainingCurveDisplay

    X_tr, X_te, y_tr, y_te = data
    fig = plt.figure(figsize=(14, 8), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.1])
    left, right = bottom.subfigures(1, 2, width_ratios=[1.4, 1])
    ax_loss, ax_score = top.subplots(1, 2)
    disp = TrainingCurveDisplay.from_estimator(models["mlp"], ax=ax_loss,
                                               score_ax=ax_score)
    ax_loss.set_title("MLPClassifierX: loss per epoch")
    ax_score.set_title("validation accuracy per epoch")
    sk = models.get("sklearn_mlp")
    if sk is not None:
        ax_loss.plot(np.arange(1, len(sk.loss_curve_) + 1), sk.loss_curve_, "--",
                     color="0.5", label="scikit-learn MLPClassifier")
        ax_loss.legend(loc="upper right")
    if "conv" in models:
        FilterDisplay.from_estimator(models["conv"], X_te, figure=left)
    else:
        ax = left.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "ConvClassifier not available:\nno filters to show",
                ha="center", va="center")
    ax = right.subplots()
    code_model = models.get("autoencoder", models["pca"])
    Z = code_model.transform(X_te)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_te, cmap="tab10", s=8)
    right.colorbar(points, ax=ax, label="digit")
    what = ("AutoEncoderTransformer" if "autoencoder" in models
            else "PCA (AutoEncoderTransformer not available)")
    ax.set_title(f"2-D code of the test digits: {what}")
    fig.suptitle("python -m sknn.demo")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    del disp
    return path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sknn.demo",
        description="Train every sknn estimator on the digits data, print a "
                    "table next to scikit-learn references and write a figure.")
    parser.add_argument("--figure", default=DEFAULT_FIGURE, metavar="PATH",
                        help=f"where to write the figure (default {DEFAULT_FIGURE})")
    parser.add_argument("--no-figure", action="store_true",
                        help="do not draw the figure")
    parser.add_argument("--fast", action="store_true",
                        help="few epochs and a smaller grid: a smoke test")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the demo; returns the table rows (a list of :class:`Row`)."""
    args = parse_args(argv)
    epochs = 15 if args.fast else 100
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    data = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    X_tr, X_te, y_tr, y_te = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # The one-off Numba compilation (cached on disk after the first run)
        # is paid here and reported on its own line.
        _, warm = _timed(lambda: _warm_up(X_tr, y_tr))
        rows, models = [], {}
        for part in (lambda: _mlp_rows(data, epochs, args.fast),
                     lambda: _conv_rows(data, epochs),
                     lambda: _code_rows(data, epochs)):
            r, m = part()
            rows += r
            models.update(m)
    print(f"digits: {X_tr.shape[0]} train / {X_te.shape[0]} test images (8x8), "
          f"at most {epochs} epochs per fit, adam")
    print(f"(first-call compile/cache load: {warm:.1f} s)")
    print(format_table(rows))
    if "dropout=0.0" in rows[0].note:
        print(f"speed-up over scikit-learn (same setting, 1 fit): "
              f"{rows[2].seconds / rows[1].seconds:.1f}x")
    if args.no_figure:
        return rows
    path = write_figure(models, data, args.figure)
    if path is None:
        print('figure skipped: matplotlib is not installed '
              '(pip install "sknn-numba[plot]")')
    else:
        print(f"figure written to {os.path.abspath(path)}")
    return rows


if __name__ == "__main__":
    main()
