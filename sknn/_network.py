"""A network: an ordered list of layers over one flat parameter vector.

Layout of the flat vector: every layer's weights in network order, then every
layer's biases (scikit-learn's ``_pack`` order).  L2 therefore acts on
``params[:n_weights]`` and the vector can be handed to L-BFGS as it is.

The network holds no fitted state of its own: the estimator's published
``coefs_`` / ``intercepts_`` are the state.  Training packs them into a flat
vector (:meth:`Network.pack`), trains, and publishes new arrays
(:meth:`Network.unpack`) only when the fit succeeds; prediction binds the
published arrays directly (:meth:`Network.bind_arrays`).
"""

import math

import numpy as np

from ._ae_layers import ActivityL1, Noise
from ._conv_layers import Pool2D
from ._kernels.gather import (
    GATHER_ARGS,
    GATHER_IDX,
    GATHER_REFS,
    gather_operands,
    gather_rows_f32,
    gather_rows_f64,
)
from ._kernels.losses import (
    LOSS_ARGS,
    LOSS_REFS,
    apply_link,
    loss_operands,
    loss_rows_f32,
    loss_rows_f64,
)
from ._layers import Dense, Dropout
from ._runtime import SERIAL, referenced, run_chain, threshold

# Layers that act at training time only: the identity at inference.
TRAINING_ONLY = (Dropout, Noise, ActivityL1)
# Layers that can run in a chain of tasks (Network._train_chain); exact types.
_CHAIN_TYPES = (Dense, Pool2D)


class Network:
    """Layers plus the output link/loss code.

    Parameters
    ----------
    layers : list of Layer
    loss_code : int
        One of the codes of :mod:`sknn._kernels.losses`.
    loss_param : float, default=0.0
        The loss's parameter (Huber threshold, quantile), when it has one.
    """

    def __init__(self, layers, loss_code, loss_param=0.0):
        self.layers = list(layers)
        self.loss_code = loss_code
        self.loss_param = float(loss_param)
        self.param_layers = []
        wsize = bsize = 0
        self._slots = []  # (layer, w_slice, w_shape, b_slice, b_shape)
        for layer in self.layers:
            ws, bs = layer.param_shapes()
            if ws is None and bs is None:
                continue
            self.param_layers.append(layer)
            self._slots.append([layer, ws, bs])
            wsize += math.prod(ws) if ws is not None else 0
            bsize += math.prod(bs) if bs is not None else 0
        self.n_weights = wsize
        self.n_params = wsize + bsize
        w_off, b_off = 0, wsize
        for slot in self._slots:
            _, ws, bs = slot
            wn = math.prod(ws) if ws is not None else 0
            bn = math.prod(bs) if bs is not None else 0
            slot.append(slice(w_off, w_off + wn) if ws is not None else None)
            slot.append(slice(b_off, b_off + bn) if bs is not None else None)
            w_off += wn
            b_off += bn
        # Optional layer hooks: ``link(layers)`` resolves references to other
        # layers (a tied decoder finds its encoder layer), ``penalty(sw)``
        # adds an activity penalty to the batch loss, ``finish_backward()``
        # runs after every layer's backward (to add shared-weight gradients).
        for layer in self.layers:
            if hasattr(layer, "link"):
                layer.link(self.layers)
        self._penalty_layers = [la for la in self.layers if hasattr(la, "penalty")]
        self._finish_layers = [
            la for la in self.layers if hasattr(la, "finish_backward")
        ]
        # Layers before the first one with parameters need no gradient.
        with_params = {id(la) for la in self.param_layers}
        self._first_param = next(
            (k for k, la in enumerate(self.layers) if id(la) in with_params), 0
        )
        # ``(layer, need_dx)`` in backward order, down to the first layer
        # with parameters (which is not asked for an input gradient).
        first = self._first_param
        self._backward_order = [(self.layers[k], k > first)
                                for k in range(len(self.layers) - 1, first - 1, -1)]
        self._layouts = {}  # chain layouts (_chain_layout), per start and dtype
        self._starts = {}  # _chain_start's answers
        self._tasks_run = {}  # whether a chain's tasks run (_train_chain)

    @property
    def out_shape(self):
        return self.layers[-1].out_shape

    # -- parameters -------------------------------------------------------
    def bind_flat(self, params, grad):
        """Point every layer at views of the flat ``params`` / ``grad``."""
        for layer, ws, bs, wsl, bsl in self._slots:
            layer.bind(
                params[wsl].reshape(ws) if ws is not None else None,
                params[bsl] if bs is not None else None,
                grad[wsl].reshape(ws) if (ws is not None and grad is not None) else None,
                grad[bsl] if (bs is not None and grad is not None) else None,
            )

    def bind_arrays(self, coefs, intercepts):
        """Point every layer at published ``coefs_`` / ``intercepts_`` arrays."""
        ci = ii = 0
        for layer, ws, bs, _, _ in self._slots:
            w = b = None
            if ws is not None:
                w, ci = coefs[ci], ci + 1
            if bs is not None:
                b, ii = intercepts[ii], ii + 1
            layer.bind(w, b, None, None)

    def inference_layers(self, coefs, intercepts):
        """``[(index, layer)]`` of the layers that act at inference, in order,
        bound to the published ``coefs`` / ``intercepts`` arrays.

        ``index`` is the layer's position in :attr:`layers` (and in the specs
        the network was built from).  Each layer carries its own geometry
        (``in_shape``, ``out_shape``; a convolution's ``k``, ``stride``,
        ``pad``; a pooling layer's ``size``, ``mode``), its activation code
        ``act`` and its weights ``w`` / ``b`` (a tied layer's ``w`` is its
        source's, transposed), so exporters and inspection tools read them
        here instead of re-deriving them.  Read-only: the layers hold the
        arrays or views of them (no copy, no cast).  Training-only layers
        (:data:`TRAINING_ONLY`) are left out.
        """
        self.bind_arrays(coefs, intercepts)
        return [(k, layer) for k, layer in enumerate(self.layers)
                if not isinstance(layer, TRAINING_ONLY)]

    def init_params(self, params, rs, dtype, init="glorot_uniform"):
        """Draw initial parameters into ``params`` (layer by layer, W then b)
        with the weight initialisation scheme ``init`` (see
        :func:`sknn._layers.draw_weights`)."""
        self.bind_flat(params, None)
        for layer in self.param_layers:
            layer.init_params(rs, dtype, init)

    def param_array_shapes(self):
        """``(coef shapes, intercept shapes)``: the shapes ``coefs_`` and
        ``intercepts_`` of this network have, in order."""
        coefs = [tuple(ws) for _, ws, _, _, _ in self._slots if ws is not None]
        intercepts = [tuple(bs) for _, _, bs, _, _ in self._slots if bs is not None]
        return coefs, intercepts

    def leading_spans(self, k):
        """``(n_w, n_b)``: how many entries of the flat vector hold the
        weights and the biases of the first ``k`` parameter layers, which are
        ``params[:n_w]`` and ``params[n_weights:n_weights + n_b]`` (the flat
        layout keeps each part in layer order)."""
        n_w = n_b = 0
        for _, ws, bs, _, _ in self._slots[:k]:
            n_w += math.prod(ws) if ws is not None else 0
            n_b += math.prod(bs) if bs is not None else 0
        return n_w, n_b

    def pack(self, coefs, intercepts, dtype):
        """Flat vector from ``coefs_`` / ``intercepts_`` lists."""
        params = np.empty(self.n_params, dtype=dtype)
        ci = ii = 0
        for _, ws, bs, wsl, bsl in self._slots:
            if ws is not None:
                params[wsl] = np.asarray(coefs[ci]).reshape(-1)
                ci += 1
            if bs is not None:
                params[bsl] = np.asarray(intercepts[ii]).reshape(-1)
                ii += 1
        return params

    def unpack(self, params):
        """New ``coefs_`` / ``intercepts_`` lists (copies) from a flat vector."""
        coefs, intercepts = [], []
        for _, ws, bs, wsl, bsl in self._slots:
            if ws is not None:
                coefs.append(params[wsl].reshape(ws).copy())
            if bs is not None:
                intercepts.append(params[bsl].copy())
        return coefs, intercepts

    # -- passes -----------------------------------------------------------
    def allocate(self, max_batch, dtype, plan=SERIAL):
        """Hand every layer the call's ``plan`` and (re)allocate its buffers
        for batches of up to ``max_batch`` rows (a no-op when unchanged)."""
        for layer in self.layers:
            layer.plan = plan
        key = (int(max_batch), np.dtype(dtype), plan.split)
        if getattr(self, "_allocated", None) == key:
            return
        for layer in self.layers:
            layer.allocate(max_batch, dtype)
        self._allocated = key

    def forward(self, x, training=False, rng=None):
        """Output-layer pre-activations ``z`` (a view of the last buffer)."""
        for layer in self.layers:
            x = layer.forward(x, training, rng)
        return x

    def penalty(self, sw):
        """Weighted sum of the layers' activity penalties for the last forward.

        Call after ``forward`` and before ``backward``; ``sw`` are the batch's
        sample weights. 0.0 when no layer has a penalty.
        """
        total = 0.0
        for layer in self._penalty_layers:
            total += layer.penalty(sw)
        return total

    def train_batch(self, x, y, sw, bufs, rng=None):
        """Forward, loss and backward of a training batch; returns the
        weighted loss sum plus the activity penalties (before L2), and
        leaves the gradient in the bound gradient vector.

        ``bufs`` (:class:`sknn._engine.BatchBuffers`) holds the output
        gradient and computes the loss.  The trailing dense and pooling
        layers, when cut into the same chunks of rows, run with the loss as
        one chain (:meth:`_train_chain`)."""
        layers = self.layers
        start, nc = self._chain_start(x)
        if start != 0:
            bufs.fill()
        for layer in layers[:start]:
            x = layer.forward(x, True, rng)
        if start == len(layers):
            z = x
            loss = bufs.loss_grad(z, y, sw, self.loss_code, self.loss_param)
            loss += self.penalty(sw)
            self.backward(bufs.delta[:z.shape[0]])
            return loss
        loss, delta = self._train_chain(x, y, sw, bufs, start, nc, rng)
        loss += self.penalty(sw)
        for layer, need in self._backward_order[len(layers) - start:]:
            delta = layer.backward(delta, need)
        for layer in self._finish_layers:
            layer.finish_backward()
        return loss

    def _chain_start(self, x):
        """``(start, nc)``: the trailing layers ``layers[start:]`` are dense
        or pooling layers, the last dense, whose passes over this batch are
        all cut into the same ``nc`` > 1 chunks of rows (by shape alone:
        :meth:`sknn._layers.Dense.chain_rows`); ``start == len(layers)`` when
        the output layer is not one.  Found once per batch size, layout and
        plan."""
        key = (x.shape[0], type(x) is np.ndarray and x.flags.c_contiguous,
               self.layers[-1].plan)
        found = self._starts.get(key)
        if found is None:
            found = self._starts[key] = self._find_chain_start(x)
        return found

    def _find_chain_start(self, x):
        layers = self.layers
        n = x.shape[0]
        start, nc = len(layers), 1
        first = self._first_param
        for k in range(len(layers) - 1, first - 1, -1):
            layer = layers[k]
            if type(layer) not in _CHAIN_TYPES or (k == len(layers) - 1
                                                   and type(layer) is not Dense):
                break
            rows = layer.chain_rows(n)
            if rows == 1 or (nc > 1 and rows != nc):
                break
            start, nc = k, rows
        if start == 0 and (type(x) is not np.ndarray or not x.flags.c_contiguous):
            start += 1  # the batch's own rows are not one C-contiguous block
            if start == len(layers):
                nc = 1
        return start, nc

    def _train_chain(self, x, y, sw, bufs, start, nc, rng):
        """Forward through ``layers[start:]`` (see :meth:`_chain_start`), the
        loss in the same ``nc`` chunks of rows, and backward through them;
        returns ``(loss sum, dL/dx of layers[start])``.

        When the plan runs their tasks, each chunk's rows go through every
        forward step, the loss and every backward step on one thread, in one
        parallel region (:func:`sknn._runtime.run_chain`); otherwise the same
        calls run one pass after the other.  The same bits either way."""
        chain = self.layers[start:]
        n = x.shape[0]
        # (only the first layer with parameters is not asked for its dx)
        first_param = self._first_param
        head = chain[-1]
        plan = head.plan
        dtype = head.out.dtype
        loss_task = loss_rows_f32 if dtype == np.float32 else loss_rows_f64
        m = head.n_out
        key = (start, n, dtype, plan)
        tasks_run = self._tasks_run.get(key)
        if tasks_run is None:  # (a task that is not ready yet stays so for this network)
            tasks_run = self._tasks_run[key] = (
                plan.runs_task(loss_task, n * m, plan.min_elements)
                and all(la.chain_ready(n, dtype) for la in chain))
        ready = (tasks_run and y.flags.c_contiguous and y.dtype == dtype
                 and sw.dtype == dtype and x.flags.c_contiguous)
        delta = bufs.delta[:n]
        # The batch's rows still to copy (BatchBuffers.gather), as steps at
        # the front of the chain: each thread copies the rows it reads.
        copies = []
        if ready and bufs.pending is not None:
            X, Y, idx = bufs.pending
            task = gather_rows_f32 if dtype == np.float32 else gather_rows_f64
            if X.dtype == dtype and plan.runs_task(task, x.size, plan.min_elements):
                copies = [(X, x)] + ([(Y, y)] if Y is not None else [])
                bufs.pending = None
        bufs.fill()
        if not ready:
            for layer in chain:
                x = layer.forward(x, True, rng)
            loss = bufs.loss_grad(x, y, sw, self.loss_code, self.loss_param, nc)
            for k in range(len(chain) - 1, -1, -1):
                delta = chain[k].backward(delta, start + k > first_param)
            return loss, delta
        sums = bufs.loss_sums
        sums[0] = self.loss_param
        # Every full batch of a fit has the same operands (the same buffers,
        # sizes and strides) but the batch's row indices, so they are built
        # once per batch size, with the chain's layout, and the indices
        # patched in.  The entry keeps every array it refers to alive, and is
        # used only while the batch comes from the same buffer (``base``).
        base = x if x.base is None else x.base
        chain_key = (start, n, len(copies))
        entry = bufs.chains.get(chain_key)
        if entry is not None and entry[0] is base:
            _, args, layout, _ = entry
            for k in range(len(copies)):
                args[k * GATHER_ARGS + GATHER_IDX] = id(idx)
        else:
            layout = self._chain_layout(start, dtype, len(copies))
            operands = []
            for src, dst in copies:
                operands += gather_operands(src, idx, dst)
            for layer in chain:
                operands += layer.forward_operands(x)
                x = layer.out[:n]
            operands += loss_operands(delta, x, y, sw, self.loss_code, sums)
            douts = [delta] + [layer.dx[:n] for layer in chain[:0:-1]]
            for k, dout in zip(range(len(chain) - 1, -1, -1), douts):
                operands += chain[k].backward_operands(dout, start + k > first_param, nc)
            args = np.array(operands, dtype=np.int64)
            bufs.chains[chain_key] = (base, args, layout,
                                      referenced(args, layout[1], layout[2]))
        tasks, starts, refs, finish = layout
        run_chain(tasks, starts, refs, nc, plan.n_threads, args, finish)
        loss = 0.0
        for c in range(nc):
            loss += sums[c + 1]
        first = chain[0]
        return loss, first.dx[:n].reshape((n,) + first.in_shape)

    def _chain_layout(self, start, dtype, copies=0):
        """The tasks of :meth:`_train_chain` over ``layers[start:]`` after
        ``copies`` row copies, where each finds its operands, which of them
        are references, and which tasks finish (the backward passes add
        their chunks' shares)."""
        key = (start, np.dtype(dtype), copies)
        layout = self._layouts.get(key)
        if layout is None:
            chain = self.layers[start:]
            steps = [la.chain_steps(dtype) for la in chain]
            loss = loss_rows_f32 if np.dtype(dtype) == np.float32 else loss_rows_f64
            f32 = np.dtype(dtype) == np.float32
            copy = (gather_rows_f32 if f32 else gather_rows_f64, GATHER_ARGS, GATHER_REFS,
                    False)
            order = ([copy] * copies + [f for f, _ in steps]
                     + [(loss, LOSS_ARGS, LOSS_REFS, False)] + [b for _, b in steps[::-1]])
            tasks = [step[0] for step in order]
            refs = [step[2] for step in order]
            starts = [0]
            for step in order[:-1]:
                starts.append(starts[-1] + step[1])
            finish = sum(1 << k for k, step in enumerate(order) if step[3])
            layout = self._layouts[key] = (tuple(tasks), tuple(starts), tuple(refs),
                                           finish)
        return layout

    def backward(self, delta):
        """Backpropagate ``delta = dL/dz`` through every layer.

        Backpropagation stops at the first layer with parameters, which is
        not asked for an input gradient (layers before it, such as input
        noise, need none).
        """
        for layer, need_dx in self._backward_order:
            delta = layer.backward(delta, need_dx)
        for layer in self._finish_layers:
            layer.finish_backward()

    def predict(self, X, plan=SERIAL, chunk=None, out=None, check=None):
        """Link-applied outputs for all rows of ``X`` (dense or CSR), in chunks.

        Memory stays bounded by ``chunk`` rows of workspace plus the output.

        ``check(rows, plan, suspect)``, when given, is the finiteness check
        of dense ``X`` left to the prediction (see
        :meth:`sknn._base.BaseNeuralNetwork._validated_input`), called after
        each chunk's forward pass: with ``suspect`` True or False when a
        dense first layer counted the non-finite values of its product
        (:meth:`~sknn._runtime.ExecutionPlan.affine`), None when ``check``
        must look at ``rows`` itself.  It raises on non-finite input, and
        returns False when no more chunks need checking.
        """
        if chunk is None:
            chunk = threshold("predict_chunk_rows")
        n = X.shape[0]
        dtype = X.dtype
        if out is None:
            out = np.empty((n,) + tuple(self.out_shape), dtype=dtype)
        self.allocate(min(chunk, max(n, 1)), dtype, plan)
        first = self.layers[0]
        flags = None
        if check is not None and type(first) is Dense:
            flags = first.finite_flags = np.zeros(max(plan.split, 1), np.int64)
        try:
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                if check is None:
                    z = self.forward(X[start:stop], training=False)
                else:
                    # a NaN in X raises the check's error, without a NumPy
                    # warning from a product of it first
                    with np.errstate(invalid="ignore"):
                        z = self.forward(X[start:stop], training=False)
                    suspect = None if flags is None else bool(flags.any())
                    if not check(X[start:stop], plan, suspect):
                        check = first.finite_flags = None
                out[start:stop] = apply_link(z, self.loss_code)
        finally:
            if flags is not None:
                first.finite_flags = None
        return out
