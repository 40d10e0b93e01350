"""sknn's own matrix product for CPUs with AVX-512: packed panels and a
register-blocked vector micro-kernel written as LLVM IR.

Why
---
On the benchmark machine (AMD EPYC, Zen 5, AVX-512 with full-width FMA
units) OpenBLAS is pinned to its AVX2 (Haswell) kernels by the machine's
environment (``OPENBLAS_CORETYPE=Haswell``), which sknn does not override:
one thread then reaches 56-61 GFLOP/s in float64 and 122-125 in float32 on
the benchmark MLP's products, half of what the FMA units can do. Numba's
auto-vectoriser does not get there from plain loops (a register-blocked loop
nest compiled to scalar FMAs, 7-16 GFLOP/s), but LLVM does when it is handed
the vector code directly: this module's micro-kernel, 24 accumulator
registers of 8 doubles (16 floats), runs the same products at 100-116
GFLOP/s in float64 and 162-215 in float32 (same process, interleaved;
``tests/test_kernels_dense.py`` checks it against NumPy,
``docs/performance.rst`` has the end-to-end figures).

How
---
The classic blocked GEMM (Goto and van de Geijn), with one operand left
where it is: ``op(b)`` is packed in blocks of ``KC`` rows into micro-panels
``NR`` columns wide (or read in place when ``b`` is not transposed: its rows
are the panels' rows), and the micro-kernel multiplies ``MR`` rows of
``op(a)``, read in place through both of its strides, by one B micro-panel
into an ``MR x NR`` tile of ``c`` held in registers for the whole ``KC``
loop; only edge panels are packed (zero-padded).  Packing ``op(a)`` as
well, as BLAS does, cost up to a third of the time of the small products
of these networks (a digits batch: 200 x 64 @ 64 x 100 took 40 us packed,
26 us in place, 45 us on OpenBLAS).  Every
entry of ``c`` is summed in the same order (k-blocks in turn, ``p`` ascending
in each) whatever the shape of the call, so a row of a product does not
depend on which rows it was computed with: splitting rows over threads gives
the same bits, as with single-threaded BLAS.

:data:`ENABLED` is decided once, when Numba is imported: true when Numba
compiles for this host's own CPU and the CPU has AVX-512F (32 vector
registers; with AVX2's 16 the tile would spill).  Elsewhere :func:`gemm
<sknn._kernels.blas.gemm>` keeps calling BLAS.  Numba's cache is keyed on the
CPU, so a cache built on one kind of machine is not reused on another.
"""

import numpy as np

from .._jit import inlined_kernel, on_materialize

carray = None  # numba.carray, set when Numba is imported

MR = 8  # rows of a tile (each element broadcast from op(a))
NV = 3  # vectors per tile row: NR = NV * lanes (24 doubles, 48 floats)
KC = 256  # depth of a block (op(b) packed, op(a) read, KC at a time)
MC = 128  # rows of op(a) swept against each B panel (a block that stays in L2)
NC = 4080  # columns of a packed B block (a multiple of 24 and 48)

#: Whether :func:`sknn._kernels.blas.gemm` uses the packed kernel (set when
#: Numba is imported; see the module doc).
ENABLED = False
_UKERNEL = None  # the micro-kernel intrinsic, built when Numba is imported
_AS_POINTER = None  # voidptr -> typed pointer intrinsic, likewise


def _host_has_avx512():
    """True when Numba compiles for this CPU and it has AVX-512F."""
    from llvmlite import binding
    from numba.core import config

    if config.CPU_NAME or config.CPU_FEATURES:  # e.g. a portable "generic" cache
        return False
    return bool(binding.get_host_cpu_features().get("avx512f", False))


def _make_ukernel():
    """The micro-kernel ``ukernel(like, kc, a, a_step, a_row_step, b, b_step,
    c, ldc, add)``.

    ``a``, ``b``, ``c`` are addresses of elements of the dtype of the scalar
    ``like``, and ``A``, ``B``, ``C`` the memory from there counted in
    elements: ``C[r * ldc + j]`` (``r < MR``, ``j < NR``) becomes ``sum_p
    A[p * a_step + r * a_row_step] * B[p * b_step + j]`` over ``p < kc``
    (``p`` ascending), or is increased by it when ``add``.  ``A``/``B`` are packed
    panels or the operands themselves; the caller keeps the arrays alive and
    guarantees every index is in bounds.
    """
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    i32, i64 = ir.IntType(32), ir.IntType(64)

    @intrinsic
    def ukernel(typingctx, like, kc, a_addr, a_step, a_row_step, b_addr, b_step, c_addr,
                ldc, add):
        if like not in (types.float32, types.float64):
            return None
        lanes = 8 if like == types.float64 else 16
        sig = types.void(like, kc, a_addr, a_step, a_row_step, b_addr, b_step, c_addr, ldc,
                         add)

        def codegen(context, builder, signature, args):
            kc_v, a_v, astep_v, arow_v, b_v, bstep_v, c_v, ldc_v = (
                context.cast(builder, args[i], signature.args[i], types.int64)
                for i in range(1, 9))
            add_v = context.cast(builder, args[9], signature.args[9], types.boolean)
            scalar = context.get_value_type(like)
            a_ptr, b_ptr, c_ptr = (builder.inttoptr(v, scalar.as_pointer())
                                   for v in (a_v, b_v, c_v))
            vec = ir.VectorType(scalar, lanes)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                "llvm.fma.v%d%s" % (lanes, "f64" if lanes == 8 else "f32"))
            zero = ir.Constant(vec, [0.0] * lanes)
            undef = ir.Constant(vec, ir.Undefined)
            splat = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(NV)]
                   for _ in range(MR)]
            for row in acc:
                for slot in row:
                    builder.store(zero, slot)

            def vector_at(ptr, index):
                return builder.bitcast(builder.gep(ptr, [ir.Constant(i64, index)]),
                                       vec.as_pointer())

            with cgutils.for_range(builder, kc_v) as loop:
                b_row = builder.gep(b_ptr, [builder.mul(loop.index, bstep_v)])
                a_col = builder.gep(a_ptr, [builder.mul(loop.index, astep_v)])
                b_vecs = [builder.load(vector_at(b_row, v * lanes), align=4)
                          for v in range(NV)]
                for r in range(MR):
                    s = builder.load(builder.gep(a_col, [builder.mul(
                        arow_v, ir.Constant(i64, r))]))
                    a_vec = builder.shuffle_vector(
                        builder.insert_element(undef, s, ir.Constant(i32, 0)), undef, splat)
                    for v in range(NV):
                        slot = acc[r][v]
                        builder.store(builder.call(fma, [a_vec, b_vecs[v],
                                                         builder.load(slot)]), slot)
            for r in range(MR):
                row = builder.gep(c_ptr, [builder.mul(ldc_v, ir.Constant(i64, r))])
                for v in range(NV):
                    ptr = vector_at(row, v * lanes)
                    total = builder.load(acc[r][v])
                    with builder.if_else(add_v) as (then, otherwise):
                        with then:
                            builder.store(builder.fadd(builder.load(ptr, align=4), total),
                                          ptr, align=4)
                        with otherwise:
                            builder.store(total, ptr, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return ukernel


def _make_as_pointer():
    """``as_pointer(ptr, like)``: the ``void *`` ``ptr`` as a pointer to the
    dtype of the scalar ``like`` (for ``numba.carray``)."""
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def as_pointer(typingctx, ptr, like):
        if ptr != types.voidptr or like not in (types.float32, types.float64):
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(like).as_pointer())

        return types.CPointer(like)(ptr, like), codegen

    return as_pointer


@on_materialize
def _build():
    global ENABLED, _UKERNEL, _AS_POINTER, carray
    import numba

    carray = numba.carray
    _UKERNEL = _make_ukernel()
    _AS_POINTER = _make_as_pointer()
    ENABLED = _host_has_avx512()


@inlined_kernel
def _pack(dst, x, trans, width, i0, count, p0, kc):
    """Rows ``i0:i0+count``, columns ``p0:p0+kc`` of ``op(x)`` into
    ``width``-row micro-panels, ``p``-major inside a panel, missing rows zero.

    An A panel is ``MR`` rows of ``op(a)``; a B panel is ``NR`` columns of
    ``op(b)``, i.e. ``NR`` rows of ``op(b).T`` (``x = b``, ``trans = not
    trans_b``).
    """
    for ip in range((count + width - 1) // width):
        base = ip * kc * width
        rows = min(width, count - ip * width)
        r0 = i0 + ip * width
        if trans:  # op(x)[i, p] = x[p, i]: the panel's rows side by side in x
            for p in range(kc):
                src = x[p0 + p]
                for r in range(rows):
                    dst[base + p * width + r] = src[r0 + r]
                for r in range(rows, width):
                    dst[base + p * width + r] = 0
        else:
            for r in range(rows):
                src = x[r0 + r]
                for p in range(kc):
                    dst[base + p * width + r] = src[p0 + p]
            for r in range(rows, width):
                for p in range(kc):
                    dst[base + p * width + r] = 0


def cblas_gemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """The packed product behind the row-major 64-bit CBLAS ``?gemm`` ABI:
    the body of the ``cfunc`` entry points that :mod:`sknn._kernels.blas`
    builds and binds by symbol name, like BLAS.

    A ``cfunc`` rather than a Numba function because Numba links a called
    function's code into every caller and optimises it again there: as a
    kernel inside ``gemm`` this product cost 17 s of a cold first fit, as an
    external function it is compiled once per dtype (about 1.3 s).  Only
    what :func:`sknn._kernels.blas.gemm` passes is supported: row-major
    storage, ``alpha = 1``, ``beta = 0``, ``m, n, k >= 1``.

    ``op(a)`` is always read in place (the micro-kernel takes both of its
    strides), ``op(b)`` when ``b`` is not transposed (its rows are the
    micro-panels' rows); only their edge panels are packed.
    """
    like = alpha  # only its dtype is used
    trans_a = ta == 112  # CblasTrans
    trans_b = tb == 112
    a_view = carray(_AS_POINTER(a, like), (k if trans_a else m, lda))
    b_view = carray(_AS_POINTER(b, like), (n if trans_b else k, ldb))
    c_view = carray(_AS_POINTER(c, like), (m, ldc))
    item = c_view.itemsize
    nr = NV * (64 // item)
    kb = min(k, KC)
    a_step, a_row_step = (lda, 1) if trans_a else (1, lda)  # op(a)[i, p] in place
    # Scratch only where it is used: a short last A panel, packed B panels
    # (all of them when b is transposed, else a narrow last one), edge tiles.
    ap = np.empty(kb * MR if m % MR else 0, c_view.dtype)
    b_panels = -(-min(n, NC) // nr) if trans_b else (1 if n % nr else 0)
    bp = np.empty(kb * nr * b_panels, c_view.dtype)
    tile = np.empty(MR * nr if m % MR or n % nr else 0, c_view.dtype)
    a0, b0, c0, ap0, bp0, tile0 = (a_view.ctypes.data, b_view.ctypes.data,
                                   c_view.ctypes.data, ap.ctypes.data, bp.ctypes.data,
                                   tile.ctypes.data)
    for j0 in range(0, n, NC):
        nc = min(NC, n - j0)
        n_pan = -(-nc // nr)
        for p0 in range(0, k, KC):
            kc = min(KC, k - p0)
            add = p0 > 0
            if trans_b or nc % nr:  # all of op(b)'s block, or its narrower last panel
                jb = j0 if trans_b else j0 + nc - nc % nr
                _pack(bp, b_view, not trans_b, nr, jb, nc if trans_b else nc % nr, p0, kc)
            for i0 in range(0, m, MC):
                mc = min(MC, m - i0)
                m_pan = -(-mc // MR)
                if mc % MR:  # the last, shorter panel of op(a)'s block
                    _pack(ap, a_view, trans_a, MR, i0 + mc - mc % MR, mc % MR, p0, kc)
                for jp in range(n_pan):
                    j = j0 + jp * nr
                    cols = min(nr, n - j)
                    if not trans_b and cols == nr:
                        b_at, b_step = b0 + (p0 * ldb + j) * item, ldb
                    else:
                        b_at, b_step = bp0 + (0 if not trans_b else jp * kc * nr) * item, nr
                    for ip in range(m_pan):
                        i = i0 + ip * MR
                        rows = min(MR, m - i)
                        if rows == MR:
                            a_at = a0 + (p0 * a_step + i * a_row_step) * item
                            a_p, a_r = a_step, a_row_step
                        else:
                            a_at, a_p, a_r = ap0, MR, 1
                        full = rows == MR and cols == nr
                        if full:
                            c_at, c_step, c_add = c0 + (i * ldc + j) * item, ldc, add
                        else:  # an edge tile: into a buffer, then its part
                            c_at, c_step, c_add = tile0, nr, False
                        _UKERNEL(like, kc, a_at, a_p, a_r, b_at, b_step, c_at, c_step, c_add)
                        if not full:
                            for r in range(rows):
                                for q in range(cols):
                                    if add:
                                        c_view[i + r, j + q] += tile[r * nr + q]
                                    else:
                                        c_view[i + r, j + q] = tile[r * nr + q]
