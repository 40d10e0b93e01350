"""Sizes, epochs and hyperparameters of every workload.

Edit the constants here to make the suite longer or shorter.  ``FULL`` is
what ``python -m benchmarks`` runs (about 7 minutes on 2 cores with
the default 5 rounds);
``QUICK`` is what ``--quick`` runs (a smoke test of a few seconds per
workload).  Epoch counts are *per round*: each round fits every
implementation once for that many epochs and divides its wall time by the
number of epochs actually run.
"""

from dataclasses import dataclass

#: Round-robin rounds per workload by default.  Five, not three: on a shared
#: machine a round can land in a slow phase for one implementation, and the
#: median of five outvotes two such rounds.
DEFAULT_ROUNDS = 5

#: Seed of every generated data set and of every model.
SEED = 0

#: Workloads 1, 2 and 7: a 784-256-128-10 classifier.
MLP_FEATURES = 784
MLP_HIDDEN = (256, 128)
MLP_CLASSES = 10
MLP_BATCH = 256

#: Workload 3: digits, one hidden layer of 100, scikit-learn's default batch.
DIGITS_HIDDEN = (100,)
DIGITS_BATCH = "auto"
DIGITS_AUTO_BATCH = 200
#: Dense widths of the digits network, input to output.
DIGITS_SIZES = (64, *DIGITS_HIDDEN, 10)

#: Workload 4: LeNet-style CNN on 28x28x1 images.
LENET_SHAPE = (1, 28, 28)
LENET_FILTERS = (8, 16)
LENET_KERNEL = 5
LENET_PADDING = "valid"
LENET_HIDDEN = (128,)
CNN_BATCH = 128
POOL_SIZE = 2

#: Workload 5: digits CNN.
DIGITS_CNN_SHAPE = (1, 8, 8)
DIGITS_CNN_FILTERS = (16,)
DIGITS_CNN_KERNEL = 3
DIGITS_CNN_PADDING = "same"
DIGITS_CNN_HIDDEN = ()

#: Workload 11: ConvRegressor locating a square in 16x16 one-channel images
#: (``sknn.datasets.make_squares``: 2 outputs, the square's row and column).
CONV_REG_SHAPE = (1, 16, 16)
CONV_REG_FILTERS = (8, 16)
CONV_REG_KERNEL = 3
CONV_REG_PADDING = "same"
CONV_REG_HIDDEN = (64,)
CONV_REG_OUTPUTS = 2

#: Workload 12: ConvClassifier on channels-last 32x32 RGB images
#: (``sknn.datasets.make_color_stripes``: 6 classes).  The shape is
#: ``(channels, height, width)`` as everywhere here; the sknn side is given
#: ``(height, width, channels)`` with ``data_format="channels_last"``.
RGB_SHAPE = (3, 32, 32)
RGB_FILTERS = (16, 32)
RGB_KERNEL = 3
RGB_PADDING = "same"
RGB_HIDDEN = (64,)
RGB_CLASSES = 6

#: Workload 6: 784-256-32-256-784 autoencoder.
AE_COMPONENTS = 32
AE_HIDDEN = (256,)
AE_BATCH = 256

#: Adam and L2 settings shared by every implementation (scikit-learn's
#: defaults).
LEARNING_RATE = 1e-3
ALPHA = 1e-4

#: Untimed pause before every measurement, in seconds: idle worker threads of
#: the previous implementation (OpenBLAS, OpenMP) spin for a while after their
#: last job and would otherwise steal the 2 cores from the next one.
SETTLE_SECONDS = 0.25

#: Rows of the one-epoch warm-up fit made before timing an implementation.
WARMUP_ROWS = 1000

#: Workload 9, first fits with an empty Numba cache: ``(workload name, sknn
#: estimator, its parameters, the method called after fit)``.  Each row fits
#: digits (float64, 1797x64) in a new process with these parameters plus
#: ``random_state`` and ``n_jobs`` (the rest are the defaults), then calls
#: the method on the same rows.  The same with ``--quick``: the targets in
#: ``targets.json`` are stated for these fits.
COLD_CASES = (
    ("cold-compile-mlp", "MLPClassifierX", {"max_iter": 5}, "predict"),
    ("cold-compile-cnn", "ConvClassifier", {"input_shape": (1, 8, 8), "max_iter": 2},
     "predict"),
    ("cold-compile-autoencoder", "AutoEncoderTransformer",
     {"n_components": 2, "max_iter": 5}, "transform"),
)

#: The reference of every cold-compile row: a new process that imports
#: scikit-learn, fits ``MLPClassifier(max_iter=5)`` on digits and predicts.
COLD_REFERENCE = ("sklearn.neural_network", "MLPClassifier", {"max_iter": 5}, "predict")


@dataclass(frozen=True)
class Sizes:
    """Data sizes and epochs per round of every workload.

    Attributes
    ----------
    mlp_samples : int
        Rows of the synthetic 784-feature data (workloads 1, 2 and 7).
    mlp_epochs : int
        Epochs per round of workloads 1 and 2.
    digits_epochs : int
        Epochs per round of workload 3.
    lenet_samples : int
        Synthetic 28x28 images of workload 4.
    lenet_epochs : int
        Epochs per round of workload 4.
    digits_cnn_epochs : int
        Epochs per round of workload 5.
    ae_samples : int
        Rows of the autoencoder data (workload 6).
    ae_epochs : int
        Epochs per round of workload 6.
    latency_calls : int
        One-row ``predict_proba`` calls per round (workload 7).
    throughput_rows : int
        Rows of the bulk ``predict_proba`` call (workload 7).
    first_fit_epochs : int
        Epochs of the fit in a new process (workload 8).
    import_repeats : int
        Fresh-process imports per round; their median is the round's time
        (workload 10).
    conv_reg_samples : int
        16x16 square images of workload 11.
    conv_reg_epochs : int
        Epochs per round of workload 11.
    rgb_samples : int
        32x32 RGB images of workload 12.
    rgb_epochs : int
        Epochs per round of workload 12.
    """

    mlp_samples: int
    mlp_epochs: int
    digits_epochs: int
    lenet_samples: int
    lenet_epochs: int
    digits_cnn_epochs: int
    ae_samples: int
    ae_epochs: int
    latency_calls: int
    throughput_rows: int
    first_fit_epochs: int
    import_repeats: int
    conv_reg_samples: int
    conv_reg_epochs: int
    rgb_samples: int
    rgb_epochs: int


FULL = Sizes(
    mlp_samples=20_000,
    mlp_epochs=3,
    digits_epochs=200,
    lenet_samples=10_000,
    lenet_epochs=2,
    digits_cnn_epochs=20,
    ae_samples=20_000,
    ae_epochs=3,
    latency_calls=2_000,
    throughput_rows=100_000,
    first_fit_epochs=200,
    import_repeats=3,
    conv_reg_samples=4_000,
    conv_reg_epochs=3,
    rgb_samples=3_000,
    rgb_epochs=2,
)

QUICK = Sizes(
    mlp_samples=2_048,
    mlp_epochs=1,
    digits_epochs=5,
    lenet_samples=512,
    lenet_epochs=1,
    digits_cnn_epochs=2,
    ae_samples=2_048,
    ae_epochs=1,
    latency_calls=50,
    throughput_rows=5_000,
    first_fit_epochs=5,
    import_repeats=1,
    conv_reg_samples=256,
    conv_reg_epochs=1,
    rgb_samples=256,
    rgb_epochs=1,
)


@dataclass(frozen=True)
class Config:
    """Settings of one run of the suite.

    Attributes
    ----------
    sizes : Sizes
        ``FULL`` or ``QUICK``.
    threads : int
        Threads given to every implementation.
    rounds : int
        Round-robin rounds per workload.
    """

    sizes: Sizes
    threads: int
    rounds: int
