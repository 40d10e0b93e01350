"""Analytic multiply-add counts of the benchmarked networks.

A layer's *MACs* are the multiply-adds of its forward product for one
sample.  Training one sample costs the forward product plus two backward
products per layer (weight gradient and input gradient), except that the
first layer needs no input gradient.  Each MAC is 2 flops.  Activations,
pooling, losses and optimizer updates are not counted.
"""

import itertools


def dense_macs(layer_sizes):
    """Return the forward MACs per sample of each dense layer.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from the input to the output, e.g. ``(784, 256, 128, 10)``.

    Returns
    -------
    list of int
        ``fan_in * fan_out`` for each layer.
    """
    return [a * b for a, b in itertools.pairwise(layer_sizes)]


def conv_output_side(side, kernel_size, padding):
    """Return the output height/width of a stride-1 convolution.

    Parameters
    ----------
    side : int
        Input height (= width).
    kernel_size : int
        Square kernel size.
    padding : {"valid", "same"}
        Convolution padding.

    Returns
    -------
    int
    """
    return side if padding == "same" else side - kernel_size + 1


def cnn_layer_macs(input_shape, filters, kernel_size, padding, pool_size,
                   hidden, n_classes):
    """Return per-layer forward MACs and the flattened width of a small CNN.

    The network is ``[conv -> relu -> maxpool] * len(filters)`` followed by
    dense layers ``hidden + (n_classes,)``, like ``sknn.ConvClassifier``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` with ``height == width``.
    filters : tuple of int
        Output channels of each convolution.
    kernel_size : int
        Square kernel size of every convolution.
    padding : {"valid", "same"}
        Padding of every convolution (stride 1).
    pool_size : int
        Max-pool window and stride.
    hidden : tuple of int
        Widths of the dense hidden layers.
    n_classes : int
        Width of the output layer.

    Returns
    -------
    macs : list of int
        Forward MACs per sample of each conv and dense layer, in order.
    flat : int
        Width of the flattened feature map fed to the first dense layer.
    """
    channels, side, _ = input_shape
    macs = []
    for n_filters in filters:
        out_side = conv_output_side(side, kernel_size, padding)
        macs.append(out_side * out_side * n_filters * channels * kernel_size**2)
        side, channels = out_side // pool_size, n_filters
    flat = channels * side * side
    macs.extend(dense_macs((flat, *hidden, n_classes)))
    return macs, flat


def training_flops_per_sample(layer_macs):
    """Return the flops of one forward + backward pass of one sample.

    Parameters
    ----------
    layer_macs : sequence of int
        Forward MACs per sample of each layer, first layer first.

    Returns
    -------
    int
        ``2 * (forward + 2 * forward - first_layer)``.
    """
    forward = sum(layer_macs)
    backward = 2 * forward - layer_macs[0]
    return 2 * (forward + backward)


def inference_flops_per_sample(layer_macs):
    """Return the flops of one forward pass of one sample.

    Parameters
    ----------
    layer_macs : sequence of int
        Forward MACs per sample of each layer.

    Returns
    -------
    int
    """
    return 2 * sum(layer_macs)


def batch_sizes(n_samples, batch_size):
    """Return the sizes of the mini-batches of one epoch.

    Parameters
    ----------
    n_samples : int
        Rows in the epoch.
    batch_size : int
        Rows per full batch.

    Returns
    -------
    list of int
        Full batches then the remainder, if any.
    """
    full, rest = divmod(n_samples, batch_size)
    return [batch_size] * full + ([rest] if rest else [])

