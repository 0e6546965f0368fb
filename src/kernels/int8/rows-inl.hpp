// The row skeleton every instruction set's kernels share, written once: each ISA file
// (x86-inl.hpp, neon-inl.hpp) includes it inside its namespace, after its vector primitives,
// and fills it in with its own block arithmetic. No include guard on purpose.
//
// What the including file must have defined first:
//   VecF                       its fp32 vector type
//   ZeroF(), AddF(a, b), HSum(v)   the zero vector, lane-wise sum, sum of the lanes
//   Prefetch(p)                a prefetch ahead of p (or nothing)
// and later, for the kernel-set table (make_set-inl.hpp): the type kernels.

// ---- One row of a 32-value block type (Q8_0, Q4_0, Q4_1) -------------------------------------
// Fmt::Block(block, acts, index, acc, min_sum) adds one block's scaled dot to acc (and its
// minimum's share to min_sum). Blocks go in order into two sums used alternately, which are
// added once at the end: a row's result does not depend on anything around it.
template <class Fmt>
float RowBlocks32(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  VecF acc0 = ZeroF(), acc1 = ZeroF();
  float min_sum = 0.0f;
  const std::int64_t nb = n / kQK;
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    Prefetch(row + b * Fmt::kBytes);
    acc0 = Fmt::Block(row + b * Fmt::kBytes, a, b, acc0, min_sum);
    acc1 = Fmt::Block(row + (b + 1) * Fmt::kBytes, a, b + 1, acc1, min_sum);
  }
  if (b < nb) acc0 = Fmt::Block(row + b * Fmt::kBytes, a, b, acc0, min_sum);
  return HSum(AddF(acc0, acc1)) + min_sum;
}

// ---- Rows x tokens ---------------------------------------------------------------------------
// y[t * ldy + r] = RowDot(row r, acts[t]): each row is read once for all tokens (a prompt's
// tokens share the weights the row brought into cache).
template <float (*RowDot)(const std::uint8_t*, const Acts&, std::int64_t)>
void Rows(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy, std::int64_t row_begin,
          std::int64_t row_end) {
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(w.row_data(r));
    for (int t = 0; t < n_tokens; ++t) y[t * ldy + r] = RowDot(row, acts[t], w.cols);
  }
}

// The same for Q8_GROUPED (its scales live beside the rows, so RowDot takes the tensor). Groups
// that are not a multiple of kGroupMultiple values (e.g. 4 for hidden_dim 172) go to the scalar
// kernel.
template <float (*RowDot)(const Tensor&, std::int64_t, const Acts&), int kGroupMultiple>
void RowsGrouped(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy, std::int64_t row_begin,
                 std::int64_t row_end) {
  if (w.group_size % kGroupMultiple != 0) {
    scalar_kernels().rows[static_cast<int>(DType::Q8_GROUPED)](w, acts, n_tokens, y, ldy, row_begin, row_end);
    return;
  }
  for (std::int64_t r = row_begin; r < row_end; ++r)
    for (int t = 0; t < n_tokens; ++t) y[t * ldy + r] = RowDot(w, r, acts[t]);
}
