"""A network's memory: one flat parameter vector and the kernels' layout.

    params = [W_0 | W_1 | ... | W_{L-1} | b_0 | ... | b_{L-1}]

W_l has shape (units[l], units[l+1]) in C order. ``coefs`` and ``intercepts``
are views into ``params``, so an optimizer step on the flat vector is seen
through them at once, and L-BFGS works on the vector itself. The order is the
one scikit-learn packs its parameters in.
"""

import warnings

import numpy as np
import scipy.sparse as sp

from . import _kernels, _memory

# Rows per block for prediction and full-batch (L-BFGS) passes: memory is
# bounded by this many rows times the widest layer, whatever n_samples is.
BLOCK_ROWS = 2048


def _data_pointer_fixed():
    """Whether numpy refuses to point an existing array at other memory
    (assigning ndarray.data: deprecated in numpy 1.x, refused in 2.x)."""
    a = np.zeros(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a.data = np.zeros(1).data
    except (AttributeError, TypeError):
        return True
    return False


_DATA_POINTER_FIXED = _data_pointer_fixed()


def _ceil_even(n):
    return n + (n & 1)


class Network:
    """Layer sizes -> flat parameters, views, and workspace layouts."""

    def __init__(self, layer_units, activation, output, dtype, slope=0.0):
        self.units = np.asarray(layer_units, dtype=np.intp)
        if self.units.ndim != 1 or self.units.size < 2 or np.any(self.units < 1):
            raise ValueError(f"invalid layer sizes {list(layer_units)}")
        self.activation = activation
        self.output = output
        self.dtype = np.dtype(dtype)
        self.slope = float(slope)
        self.n_layers = self.units.size - 1
        fan_in, fan_out = self.units[:-1], self.units[1:]
        w_sizes = fan_in * fan_out
        self.w_off = np.concatenate(([0], np.cumsum(w_sizes)[:-1])).astype(np.intp)
        self.n_coef = int(w_sizes.sum())
        self.b_off = (self.n_coef + np.concatenate(([0], np.cumsum(fan_out)[:-1]))).astype(np.intp)
        self.n_params = self.n_coef + int(fan_out.sum())
        self.params = zeroed_arrays(self.dtype, [self.n_params])[0]
        self._metas = {}
        self._layouts = {}
        self._known_views = None  # arrays is_view has found to be views

    # -- views ---------------------------------------------------------------
    def coef_views(self, flat=None):
        flat = self.params if flat is None else flat
        return [flat[o:o + a * b].reshape(a, b)
                for o, a, b in zip(self.w_off, self.units[:-1], self.units[1:])]

    def intercept_views(self, flat=None):
        flat = self.params if flat is None else flat
        return [flat[o:o + b] for o, b in zip(self.b_off, self.units[1:])]

    def is_view(self, coefs, intercepts):
        """True when coefs / intercepts are still this network's own views.

        Arrays found to be views before are recognised by identity (plus the
        dtype and layout, which can be reassigned in place): reading an
        array's address costs ~3 us, a sixth of a one-row prediction on a
        two-layer network. Identity suffices where numpy does not let an
        array's data pointer be reassigned (numpy 2); elsewhere every call
        reads the addresses."""
        if len(coefs) != self.n_layers or len(intercepts) != self.n_layers:
            return False
        arrays = (*coefs, *intercepts)
        known = self._known_views
        if known is not None and all(
                a is b and a.dtype == self.dtype and a.flags.c_contiguous
                for a, b in zip(arrays, known)):
            return True
        if not self._addresses_read(arrays):
            return False
        if _DATA_POINTER_FIXED:
            self._known_views = arrays
        return True

    def __getstate__(self):
        # a copy (deepcopy, pickle) has params of its own, which the arrays
        # is_view knows (or their copies) are no views of
        state = self.__dict__.copy()
        state["_known_views"] = None
        return state

    def _addresses_read(self, arrays):
        """is_view's check proper: each array is this network's view, at its
        offset in params."""
        base = self.params.__array_interface__["data"][0]
        item = self.dtype.itemsize
        for arr, off in zip(arrays, list(self.w_off) + list(self.b_off)):
            if (not isinstance(arr, np.ndarray) or arr.dtype != self.dtype
                    or arr.__array_interface__["data"][0] != base + off * item
                    or not arr.flags.c_contiguous):
                return False
        return True

    def load(self, coefs, intercepts):
        """Copy parameters given as lists of arrays into the flat vector."""
        for view, arr in zip(self.coef_views() + self.intercept_views(),
                             list(coefs) + list(intercepts)):
            arr = np.asarray(arr)
            if arr.shape != view.shape:
                raise ValueError(f"parameter of shape {arr.shape} where the network "
                                 f"has {view.shape}")
            view[...] = arr

    # -- workspace -------------------------------------------------------------
    def meta(self, capacity, gather_cols=0):
        """The kernels' description of this network with a workspace for
        `capacity` rows (plus a gather buffer of `gather_cols` columns)."""
        key = (int(capacity), int(gather_cols))
        if key in self._metas:
            return self._metas[key]
        L, units, cap = self.n_layers, self.units, int(capacity)
        act_off = np.zeros(L, dtype=np.intp)
        delta_off = np.zeros(L, dtype=np.intp)
        pos = 0
        act_off[0] = pos
        pos += cap * int(gather_cols)
        for l in range(1, L):
            act_off[l] = pos
            pos += cap * int(units[l])
        for l in range(L):
            delta_off[l] = pos
            pos += cap * int(units[l + 1])
        # output-layer scratch: per-row losses (doubles: 8-byte aligned, room
        # for cap doubles in either dtype), then the targets / loss terms of
        # the rows (cap x units[-1])
        pos = _ceil_even(pos)
        rowloss_off = pos
        pos += 2 * cap + cap * int(units[-1])
        work_len = pos
        header = [L, _kernels.ACTIVATIONS[self.activation], _kernels.OUTPUTS[self.output],
                  cap, self.n_coef, self.n_params, rowloss_off, work_len]
        meta = np.concatenate((header, units, self.w_off, self.b_off, act_off,
                               delta_off)).astype(np.intp)
        self._metas[key] = (meta, work_len)
        return self._metas[key]

    def layout(self, capacity, gather_cols=0):
        """The kernels' Layout of meta(capacity, gather_cols): the network
        unpacked and checked once, kept for every later call (a prediction
        takes the one of its largest row unit)."""
        key = (int(capacity), int(gather_cols))
        layout = self._layouts.get(key)
        if layout is None:
            layout = _kernels.Layout(self.meta(capacity, gather_cols)[0], self.slope)
            self._layouts[key] = layout
        return layout

    def workspace(self, capacity, gather_cols=0):
        meta, work_len = self.meta(capacity, gather_cols)
        return meta, np.empty(work_len, dtype=self.dtype)

    def loss_context(self, n_rows, alpha=0.0, *, l1_ratio=0.0, dropout=0.0, seed=0,
                     step=0, capacity=None, dtype=None):
        """A LossContext for the full-batch loss over n_rows rows: penalty
        alpha, l1_ratio; with dropout > 0 the masks of minibatch `step` under
        `seed`. Its workspace (of dtype, default the network's) holds a block
        of `capacity` rows: by default min(BLOCK_ROWS, n_rows), or all the
        rows with dropout (its masks are those of one block)."""
        if capacity is None:
            capacity = n_rows if dropout > 0 else min(BLOCK_ROWS, n_rows)
        layout = self.layout(max(1, capacity))
        work = np.empty(layout.work_len, dtype=self.dtype if dtype is None else dtype)
        return _kernels.LossContext(layout, work, alpha=alpha, l1_ratio=l1_ratio,
                                    dropout=dropout, seed=seed, step=step)

    # -- passes ----------------------------------------------------------------
    @staticmethod
    def row_units(n_rows):
        """How many row units forward cuts n_rows into: more threads than
        that have nothing to do (see _kernels.predict)."""
        return _kernels.predict_units(n_rows, max(1, min(BLOCK_ROWS, n_rows)))[0]

    def forward(self, X, n_threads, params=None, check_input=False):
        """(outputs, finite) for X (dense C-ordered or CSR, of self.dtype).
        finite is False when check_input is set and a row of the first
        layer's product X @ W_0 is not finite, as any NaN or infinity in X
        makes it (see _kernels.predict); True otherwise."""
        params = self.params if params is None else params
        n = X.shape[0]
        out = np.empty((n, self.units[-1]), dtype=params.dtype)
        block = max(1, min(BLOCK_ROWS, n))
        n_units, unit_rows = _kernels.predict_units(n, block)
        layout = self.layout(max(1, unit_rows))
        # a workspace for each thread that can have a row unit to work on
        work = np.empty(max(1, min(n_threads, n_units)) * layout.work_len,
                        dtype=params.dtype)
        finite = _kernels.predict(layout, _kernels.Data(*kernel_input(X)), params, work,
                                  out, n_threads, check_input, block)
        return out, finite

    def loss_gradient(self, context, data, params, grads=None, n_threads=1):
        """Full-batch loss of `data` (see kernel_data) under params, with the
        penalty (and dropout mask) of `context` (see loss_context), and its
        gradient into grads (None: the loss only), streamed in row blocks."""
        grads = _empty(params.dtype) if grads is None else grads
        return _kernels.loss_gradient(context, data, params, grads, n_threads)


def _numpy_allows_huge_pages():
    """numpy's own policy on huge pages (off under NUMPY_MADVISE_HUGEPAGE=0
    or on kernels where it found them slow); on where numpy does not say."""
    try:
        from numpy._core.multiarray import _get_madvise_hugepage
    except ImportError:
        return True
    return bool(_get_madvise_hugepage())


def zeroed_arrays(dtype, lengths):
    """Zeroed 1-d arrays of these lengths, carved from one block, each on a
    64-byte line. From 1 MiB up (where numpy's policy allows huge pages) the
    block is a HugePageBlock: its own mapping, in 2 MiB pages, zero as the
    kernel hands it out, or a freed block's mapping of the same size zeroed
    again (the next fit of the same network). Below that, or where no such
    block can be made, numpy memory zeroed by writing, so that the
    optimizer's first read does not fault onto the shared zero page before
    its first write faults again (what a calloc'd array gets). Measured on
    784-256-128-10 float64, whose fits each get their buffers from fresh
    pages: a fit's first epoch ran ~7.7 ms (~13%) slower than the next ones
    with calloc'd 4 KiB pages."""
    dtype = np.dtype(dtype)
    per_line = max(1, 64 // dtype.itemsize)
    starts, total = [], 0
    for n in lengths:
        starts.append(total)
        total += -(-int(n) // per_line) * per_line
    nbytes = total * dtype.itemsize
    block = None
    if nbytes >= _memory.HUGE_PAGE // 2 and _numpy_allows_huge_pages():
        mapped = _memory.HugePageBlock(nbytes)
        if mapped.size:
            block = np.frombuffer(mapped, dtype=np.uint8)
    if block is None:
        block = np.empty(nbytes + 64, dtype=np.uint8)
        skip = -block.ctypes.data % 64
        block = block[skip:skip + nbytes]
        block[...] = 0
    flat = block[:nbytes].view(dtype)
    return [flat[start:start + int(n)] for start, n in zip(starts, lengths)]


def _empty(dtype, ndim=1):
    return np.empty((0,) * ndim, dtype=dtype)


def kernel_input(X):
    """(X_dense, X_data, X_indices, X_indptr, sparse, n_features), the
    input's parts as _kernels.Data takes them: dense C-ordered X, or CSR
    with intp indices (the parts it does not read are None)."""
    if sp.issparse(X):
        return (None, X.data, X.indices, X.indptr, True, X.shape[1])
    return (X, None, None, None, False, X.shape[1])


def kernel_data(X, Y=None, sample_weight=None):
    """The kernels' Data of rows X (as kernel_input takes them), targets Y
    and sample weights (None: all 1), all of one float dtype: checked once,
    for every epoch or evaluation that reads them."""
    return _kernels.Data(*kernel_input(X), Y, sample_weight)


def as_kernel_csr(X, dtype):
    """CSR of `dtype` in canonical form (sorted indices, no duplicates) with
    intp indices; copies only where the input differs."""
    if X.format != "csr":
        X = X.tocsr()
    X = X.astype(dtype, copy=False)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # may change the index dtype: cast afterwards
    if X.indices.dtype != np.intp or X.indptr.dtype != np.intp:
        X = X.copy()
        X.indices = X.indices.astype(np.intp)
        X.indptr = X.indptr.astype(np.intp)
    return X
