// The Highway back end: every fast kernel, compiled once per SIMD target.
//
// foreach_target.h re-includes this file with HWY_TARGET set to each target of
// simd_config.hpp; everything between HWY_BEFORE_NAMESPACE and HWY_AFTER_NAMESPACE therefore
// exists once per instruction set (namespaces N_AVX3, N_AVX2, ...). The HWY_ONCE section at the
// end builds one dispatch table per kernel; the first call picks the best target the CPU has,
// so one x86-64 binary uses AVX-512 where present and still runs on any x86-64.
//
// Semantics are those of reference.hpp. Sums are reordered (several accumulators, fused
// multiply-add), so results differ from the reference in the last bits only; but each output
// is always computed the same way whatever the row range or thread split it falls in.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/fp32/reference.hpp"
#include "kernels/fp32/simd_ops.hpp"

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fp32/simd_ops.cpp"
#include "kernels/fp32/simd_config.hpp"  // must precede every hwy header
#include "hwy/foreach_target.h"     // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
// clang-format on






HWY_BEFORE_NAMESPACE();
namespace llama2::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;

// Upper bound of Lanes(D()) for this target, to size stack buffers.
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Tokens per register tile of the batched matmul (the tile is 4 rows x kTileTokens tokens).
// The tile holds 4*T accumulators, T token vectors and one weight vector in registers:
// 31 of the 32 vector registers of AVX-512 and AArch64 with T = 6, 16 of 16 with T = 3.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_ARCH_ARM_A64
constexpr size_t kTileTokens = 6;
#else
constexpr size_t kTileTokens = 3;
#endif

// Cache blocking of the batched matmul (see the loop nest above MatmulRows): columns per
// pass, and the bytes of x and of W that a token block and a row block keep in the 1 MB L2.
constexpr size_t kMaxKc = 1024;
constexpr size_t kTokenBlockBytes = 256 * 1024;
constexpr size_t kRowBlockBytes = 256 * 1024;
// Up to this many token tiles, the row groups go outermost (see MatmulRows).
constexpr size_t kRowOuterMaxTiles = 6;

// ------------------------------------------------------------------------------------------
// Partial vectors. Highway 1.0 has no LoadN, and a full-width load past the end of an array
// can fault (and trips ASan), so the last partial vector goes through a small buffer. The
// missing lanes get `fill`: 0 for sums, -inf for max and exp.

template <class DT, typename T = hn::TFromD<DT>>
HWY_INLINE hn::Vec<DT> LoadPart(DT dt, const T* HWY_RESTRICT p, size_t count, T fill) {
  if (HWY_LIKELY(count == hn::Lanes(dt))) return hn::LoadU(dt, p);
  alignas(64) T buf[HWY_MAX_BYTES / sizeof(T)];
  for (size_t i = 0; i < hn::Lanes(dt); ++i) buf[i] = i < count ? p[i] : fill;
  return hn::Load(dt, buf);
}

HWY_INLINE void StorePart(D d, V v, float* HWY_RESTRICT p, size_t count) {
  if (HWY_LIKELY(count == hn::Lanes(d))) return hn::StoreU(v, d, p);
  alignas(64) float buf[kMaxLanes];
  hn::Store(v, d, buf);
  for (size_t i = 0; i < count; ++i) p[i] = buf[i];
}

// ------------------------------------------------------------------------------------------
// Horizontal sums.

#if HWY_TARGET != HWY_SCALAR && !HWY_HAVE_SCALABLE
// Adds the halves of v until 128 bits remain, then stores those 4 lanes.
template <class DV>
HWY_INLINE void FoldAndStore4(DV dv, hn::Vec<DV> v, float* HWY_RESTRICT out) {
  if constexpr (hn::MaxLanes(DV()) > 4) {
    const hn::Half<DV> dh;
    FoldAndStore4(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)), out);
  } else {
    hn::StoreU(v, dv, out);
  }
}
#endif

// out[0..3] = the lane sums of a, b, c, e. One transpose-and-add for four vectors costs about
// a third of four separate SumOfLanes, which matters when a dot product is only a few vectors
// long (matmul tiles, attention scores). Each total's additions involve only its own vector, in
// an order that does not depend on the other three: a vector reduced with zeros as partners
// gives bit-identical results to the same vector reduced in a group.
HWY_INLINE void Reduce4(D d, V a, V b, V c, V e, float* HWY_RESTRICT out) {
#if HWY_TARGET == HWY_SCALAR || HWY_HAVE_SCALABLE
  out[0] = hn::GetLane(hn::SumOfLanes(d, a));
  out[1] = hn::GetLane(hn::SumOfLanes(d, b));
  out[2] = hn::GetLane(hn::SumOfLanes(d, c));
  out[3] = hn::GetLane(hn::SumOfLanes(d, e));
#else
  // Within each 128-bit block: [a0 b0 a1 b1] + [a2 b2 a3 b3], then 64-bit halves of ab and ce.
  const hn::Repartition<uint64_t, D> d64;
  const V ab = hn::Add(hn::InterleaveLower(d, a, b), hn::InterleaveUpper(d, a, b));
  const V ce = hn::Add(hn::InterleaveLower(d, c, e), hn::InterleaveUpper(d, c, e));
  const auto ab64 = hn::BitCast(d64, ab);
  const auto ce64 = hn::BitCast(d64, ce);
  const V sums = hn::Add(hn::BitCast(d, hn::InterleaveLower(d64, ab64, ce64)),
                         hn::BitCast(d, hn::InterleaveUpper(d64, ab64, ce64)));
  FoldAndStore4(d, sums, out);  // [sum a, sum b, sum c, sum e] per block; add the blocks
#endif
}

// sums[r] = lane sum of acc[r], r < R <= 4 (missing partners are zero, see Reduce4).
template <size_t R>
HWY_INLINE void ReduceRows(D d, const V (&acc)[R], float* HWY_RESTRICT sums) {
  static_assert(R >= 1 && R <= 4);
  V parts[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
  for (size_t r = 0; r < R; ++r) parts[r] = acc[r];
  alignas(16) float out[4];
  Reduce4(d, parts[0], parts[1], parts[2], parts[3], out);
  for (size_t r = 0; r < R; ++r) sums[r] = out[r];
}

// ------------------------------------------------------------------------------------------
// The register tile behind every dot product (matvec, matmul, dot, attention scores):
//   sums[t * R + r] = sum_{c < k} w[r * ldw + c] * x[t * ldx + c]   for r < R, t < T.
// Each load of x serves R rows and each load of w serves T vectors; the R*T*U accumulators
// are independent chains that hide the FMA latency (U unrolls along c, for when R*T alone is
// too few). Row r's arithmetic does not depend on R, T or its neighbours, so a row computed
// in a tile of one is bit-identical to the same row in a tile of four.

template <size_t R, size_t T, bool kFull, size_t kAhead = 0>
HWY_INLINE void TileStep(D d, const float* HWY_RESTRICT w, size_t ldw, const float* HWY_RESTRICT x,
                         size_t ldx, size_t c, size_t count, V (&acc)[T][R]) {
  V xv[T];
  for (size_t t = 0; t < T; ++t) {
    xv[t] = kFull ? hn::LoadU(d, x + t * ldx + c) : LoadPart(d, x + t * ldx + c, count, 0.0f);
  }
  for (size_t r = 0; r < R; ++r) {
    // Batched tiles ask for the same column of the next row group: with several FMAs per
    // weight vector the loop alone keeps too few cache misses in flight to reach DRAM
    // bandwidth (measured, 32000x512, 1 core: 2 tokens 13.9 -> 22 GB/s, 4 tokens 17 -> 24).
    // The matrix-vector tile (T = 1) is faster without it (it asks further along its own
    // row instead: kAhead). Prefetches never fault, so asking past the last row is harmless.
    if constexpr (kFull && T > 1) __builtin_prefetch(w + (r + R) * ldw + c);
    // A matrix-vector product streams its rows once: ask for the line kAhead floats further on
    // (see MatvecRows).
    if constexpr (kFull && kAhead > 0) __builtin_prefetch(w + r * ldw + c + kAhead);
    const V wv = kFull ? hn::LoadU(d, w + r * ldw + c) : LoadPart(d, w + r * ldw + c, count, 0.0f);
    for (size_t t = 0; t < T; ++t) acc[t][r] = hn::MulAdd(wv, xv[t], acc[t][r]);
  }
}

template <size_t R, size_t T, size_t U, size_t kAhead = 0>
HWY_INLINE void DotTile(const float* HWY_RESTRICT w, size_t ldw, const float* HWY_RESTRICT x,
                        size_t ldx, size_t k, float* HWY_RESTRICT sums) {
  static_assert(R >= 1 && R <= 4 && T >= 1 && U >= 1);
  const D d;
  const size_t N = hn::Lanes(d);
  V acc[U][T][R];
  for (auto& au : acc)
    for (auto& at : au)
      for (V& v : at) v = hn::Zero(d);

  size_t c = 0;
  for (; c + U * N <= k; c += U * N) {
    for (size_t u = 0; u < U; ++u) TileStep<R, T, true, kAhead>(d, w, ldw, x, ldx, c + u * N, N, acc[u]);
  }
  for (; c + N <= k; c += N) TileStep<R, T, true, kAhead>(d, w, ldw, x, ldx, c, N, acc[0]);
  if (c < k) TileStep<R, T, false>(d, w, ldw, x, ldx, c, k - c, acc[0]);

  for (size_t u = 1; u < U; ++u)
    for (size_t t = 0; t < T; ++t)
      for (size_t r = 0; r < R; ++r) acc[0][t][r] = hn::Add(acc[0][t][r], acc[u][t][r]);
  for (size_t t = 0; t < T; ++t) ReduceRows<R>(d, acc[0][t], sums + t * R);
}

// ------------------------------------------------------------------------------------------
// Matrix-vector product: one row at a time, 4-way unrolled along the row (4 FMA chains), so
// that each thread reads its rows as one linear stream. Big matrices are bound by memory
// bandwidth, and a single stream with a long software prefetch keeps the most bytes in
// flight: each weight load is preceded by a prefetch of the line 32 KB (kMatvecAhead floats)
// further on, which for rows shorter than that is a later row of the same stream.
// Measured on this project's VM (interleaved A/B of whole-model generation, fractions of the
// bandwidth read beside each run, four rounds): against 4-row tiles with 4 KB ahead per row,
// 110M +6 % (1 thread) and +11 % (2 threads), 42M +9 / +9 %, 15M +5 / +14 %. 4-row tiles with
// 32 KB ahead gained nothing at 1 thread; one row with 16 KB or 64 KB ahead, or 8 chains,
// gained less. (4 KB per row had been best when tiles were chosen, in the session before the
// bench read bandwidth beside each run.)
constexpr size_t kMatvecAhead = 8192;

void MatvecRows(const Tensor& w, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                std::int64_t row_begin, std::int64_t row_end) {
  const size_t cols = static_cast<size_t>(w.cols);
  const float* HWY_RESTRICT m = w.f32();
  for (size_t r = static_cast<size_t>(row_begin); r < static_cast<size_t>(row_end); ++r)
    DotTile<1, 1, 4, kMatvecAhead>(m + r * cols, cols, x, 0, cols, y + r);
}

// ------------------------------------------------------------------------------------------
// Batched matmul: y[t][r] = W[r] . x[t]. Loop nest, outermost first:
//   token block  - its slice of x (<= kTokenBlockBytes) stays in L2 while all rows pass;
//   column pass  - at most kMaxKc columns, so a token tile's x and a 4-row panel of W fit L1;
//   row block    - its slice of W (<= kRowBlockBytes) stays in L2 while all token tiles pass;
//   token tile   - kTileTokens vectors of x, loaded from L1 for every row group;
//   4-row group  - DotTile<4, kTileTokens>, its W panel streamed from L2.
// Row groups innermost make the stores to y sequential (y[t][r..r+3], then r+4..r+7 in the
// same cache line). Tokens innermost would jump a whole row of y (rows * 4 bytes) per store,
// and with power-of-two-ish row counts those lines collide in a few cache sets.
// A pass after the first adds to y. Each output is computed the same way whatever the
// blocking, which depends only on the shape, never on the thread's row range.

template <size_t R, size_t T>
HWY_INLINE void MatmulTile(const float* HWY_RESTRICT w, size_t ldw, const float* HWY_RESTRICT x, size_t ldx,
                           size_t kc, float* HWY_RESTRICT y, size_t ldy, bool accumulate) {
  float sums[T * R];
  DotTile<R, T, 1>(w, ldw, x, ldx, kc, sums);
  for (size_t t = 0; t < T; ++t)
    for (size_t r = 0; r < R; ++r) y[t * ldy + r] = accumulate ? y[t * ldy + r] + sums[t * R + r] : sums[t * R + r];
}

// Rows [r_begin, r_end) x T tokens starting at x (already offset to the pass's first column).
template <size_t T>
HWY_INLINE void MatmulTokenTile(const float* HWY_RESTRICT w, size_t cols, size_t r_begin, size_t r_end,
                                const float* HWY_RESTRICT x, size_t kc, float* HWY_RESTRICT y, size_t ldy,
                                bool accumulate) {
  size_t r = r_begin;
  for (; r + 4 <= r_end; r += 4) MatmulTile<4, T>(w + r * cols, cols, x, cols, kc, y + r, ldy, accumulate);
  for (; r < r_end; ++r) MatmulTile<1, T>(w + r * cols, cols, x, cols, kc, y + r, ldy, accumulate);
}

// A tile of count < kTileTokens tokens, through the instantiation of exactly that size: a
// batch of 128 leaves 2 tokens after 21 tiles of 6, and 1-token tiles would be much slower
// than one 2-token tile (fewer accumulators than the FMA latency needs, more loads per FMA).
template <size_t T = 1>
HWY_INLINE void MatmulTailTile(size_t count, const float* HWY_RESTRICT w, size_t cols, size_t r_begin, size_t r_end,
                               const float* HWY_RESTRICT x, size_t kc, float* HWY_RESTRICT y, size_t ldy,
                               bool accumulate) {
  if constexpr (T < kTileTokens) {
    if (count == T) return MatmulTokenTile<T>(w, cols, r_begin, r_end, x, kc, y, ldy, accumulate);
    MatmulTailTile<T + 1>(count, w, cols, r_begin, r_end, x, kc, y, ldy, accumulate);
  }
}

void MatmulRows(const Tensor& w, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int n_tokens,
                std::int64_t row_begin, std::int64_t row_end) {
  if (n_tokens <= 0 || row_begin >= row_end) return;
  // No shortcut to MatvecRows for one token, though its extra accumulators would suit it: a
  // token's row sums here are the same whatever tile it lands in (see DotTile), so a batch of
  // one gives bit for bit what the same token gives inside any batch. The server relies on
  // that: a sequence's greedy reply must not depend on what else shares the pass. (Generation
  // one token at a time goes through matvec, not here.)
  const size_t cols = static_cast<size_t>(w.cols), ldy = static_cast<size_t>(w.rows);
  const size_t tokens = static_cast<size_t>(n_tokens);
  const float* HWY_RESTRICT m = w.f32();
  // Equal passes of at most kMaxKc columns; all but the last a multiple of 64 columns so only
  // the last pass has a partial vector.
  const size_t n_passes = (cols + kMaxKc - 1) / kMaxKc;
  const size_t kc_max = ((cols + n_passes - 1) / n_passes + 63) / 64 * 64;
  const size_t kc_bytes = std::min(cols, kc_max) * sizeof(float);
  const size_t token_block = std::max<size_t>(1, kTokenBlockBytes / kc_bytes / kTileTokens) * kTileTokens;
  const size_t row_block = std::max<size_t>(1, kRowBlockBytes / kc_bytes / 4) * 4;
  for (size_t t0 = 0; t0 < tokens; t0 += token_block) {
    const size_t t1 = std::min(tokens, t0 + token_block);
    for (size_t k0 = 0; k0 < cols; k0 += kc_max) {
      const size_t kc = std::min(kc_max, cols - k0);
      const bool accumulate = k0 > 0;
      for (size_t r0 = static_cast<size_t>(row_begin); r0 < static_cast<size_t>(row_end); r0 += row_block) {
        const size_t r1 = std::min(static_cast<size_t>(row_end), r0 + row_block);
        // Tiles as even as possible (8 tokens: 4 + 4, not 6 + 2): a small tile costs nearly as
        // much time as a full one, because the row block's W streams through it all the same.
        const size_t n_tiles = (t1 - t0 + kTileTokens - 1) / kTileTokens;
        auto token_tiles = [&](size_t ra, size_t rb) {
          for (size_t i = 0, t = t0; i < n_tiles; ++i) {
            const size_t count = (t1 - t) / (n_tiles - i);  // the later tiles take the remainder
            if (count == kTileTokens) {
              MatmulTokenTile<kTileTokens>(m + k0, cols, ra, rb, x + t * cols + k0, kc, y + t * ldy, ldy, accumulate);
            } else {
              MatmulTailTile(count, m + k0, cols, ra, rb, x + t * cols + k0, kc, y + t * ldy, ldy, accumulate);
            }
            t += count;
          }
        };
        if (n_tiles <= kRowOuterMaxTiles) {
          // A few tokens (a server's batch of sequences): every token tile on one 4-row group
          // before the next, so the rows come from memory once, into L1, while all the tiles'
          // arithmetic runs. Token tiles outside would stream the row block from memory at
          // the first tile's pace and again from L2 for each further tile.
          for (size_t r = r0; r < r1; r += 4) token_tiles(r, std::min(r1, r + 4));
        } else {
          token_tiles(r0, r1);
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// Vector kernels.

float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int n) {
  if (n <= 0) return 0.0f;
  float sum;
  DotTile<1, 1, 4>(a, 0, b, 0, static_cast<size_t>(n), &sum);
  return sum;
}

void Axpy(float a, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int n) {
  const D d;
  const size_t N = hn::Lanes(d), len = static_cast<size_t>(std::max(n, 0));
  const V va = hn::Set(d, a);
  for (size_t i = 0; i < len; i += N) {
    const size_t count = std::min(N, len - i);
    StorePart(d, hn::MulAdd(va, LoadPart(d, x + i, count, 0.0f), LoadPart(d, y + i, count, 0.0f)), y + i, count);
  }
}

void RmsNorm(float* HWY_RESTRICT out, const float* HWY_RESTRICT x, const float* HWY_RESTRICT weight, int n,
             float eps) {
  if (n <= 0) return;
  const D d;
  const size_t N = hn::Lanes(d), len = static_cast<size_t>(n);
  float ss;
  DotTile<1, 1, 4>(x, 0, x, 0, len, &ss);
  const V scale = hn::Set(d, 1.0f / std::sqrt(ss / static_cast<float>(n) + eps));
  for (size_t i = 0; i < len; i += N) {
    const size_t count = std::min(N, len - i);
    const V v = hn::Mul(LoadPart(d, weight + i, count, 0.0f), hn::Mul(scale, LoadPart(d, x + i, count, 0.0f)));
    StorePart(d, v, out + i, count);
  }
}

void Softmax(float* HWY_RESTRICT x, int n) {
  if (n <= 0) return;
  const D d;
  const size_t N = hn::Lanes(d), len = static_cast<size_t>(n);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  V vmax = hn::Set(d, kNegInf);
  for (size_t i = 0; i < len; i += N) vmax = hn::Max(vmax, LoadPart(d, x + i, std::min(N, len - i), kNegInf));
  const V max = hn::MaxOfLanes(d, vmax);
  // Padding lanes hold -inf, whose exp is 0, so they do not disturb the sum.
  V sum = hn::Zero(d);
  for (size_t i = 0; i < len; i += N) {
    const size_t count = std::min(N, len - i);
    const V e = hn::Exp(d, hn::Sub(LoadPart(d, x + i, count, kNegInf), max));
    StorePart(d, e, x + i, count);
    sum = hn::Add(sum, e);
  }
  const V total = hn::SumOfLanes(d, sum);
  for (size_t i = 0; i < len; i += N) {
    const size_t count = std::min(N, len - i);
    StorePart(d, hn::Div(LoadPart(d, x + i, count, 0.0f), total), x + i, count);
  }
}

void Swiglu(float* HWY_RESTRICT h1, const float* HWY_RESTRICT h3, int n) {
  const D d;
  const size_t N = hn::Lanes(d), len = static_cast<size_t>(std::max(n, 0));
  const V one = hn::Set(d, 1.0f);
  // Highway's Exp is only specified up to +104. Past ~88.7 the true value overflows to +inf,
  // which 100 still yields, so clamping there keeps silu(a) = a / inf = -0 for very negative a.
  const V exp_limit = hn::Set(d, 100.0f);
  for (size_t i = 0; i < len; i += N) {
    const size_t count = std::min(N, len - i);
    const V a = LoadPart(d, h1 + i, count, 0.0f);
    const V e = hn::Exp(d, hn::Min(hn::Neg(a), exp_limit));
    StorePart(d, hn::Mul(hn::Div(a, hn::Add(one, e)), LoadPart(d, h3 + i, count, 0.0f)), h1 + i, count);
  }
}

void Rope(float* HWY_RESTRICT v, int n, int head_size, Position pos, const RopeSpec& spec) {
  // Rotations are vectorised: adjacent pairs as v * cos + swap_pairs(v) * (-sin, +sin), NeoX
  // pairs as (a, b) -> (a cos - b sin, a sin + b cos) on the two halves of the head. The angles
  // depend only on the pair within a head: head_size/2 scalar cos/sin from
  // reference::rope_angle (so the table equals the reference's values), not one per pair. A
  // token's q and k of every layer share one position, so the table is kept for the next
  // call: computed 2 x n_layers times a token, it was ~1 % of a 110M-shape Q4_K token.
  constexpr int kMaxHead = 1024;
  const D d;
  const size_t N = hn::Lanes(d);
  if (n <= 0) return;
  const bool whole_heads = n % head_size == 0;
  if (N < 2 || head_size <= 0 || head_size % 2 != 0 || head_size > kMaxHead || n % 2 != 0 ||
      (spec.neox && !whole_heads)) {
    reference::rope(v, n, head_size, pos, spec);
    return;
  }
  struct Table {
    Position pos = -1;
    int head_size = 0;
    RopeSpec spec;
    // Adjacent pairs: cos/sin per dimension, (c, c) and (-s, s). NeoX: per pair, c and s.
    alignas(64) float cos[kMaxHead], sin[kMaxHead];
    // A copy of the factors the table was made with: a pointer alone could be reused by
    // another model's mapping.
    float factors[kMaxHead / 2];
  };
  thread_local Table table;
  const auto same_factors = [&] {
    if ((table.spec.freq_factors == nullptr) != (spec.freq_factors == nullptr)) return false;
    return spec.freq_factors == nullptr ||
           std::memcmp(table.factors, spec.freq_factors, sizeof(float) * static_cast<size_t>(head_size / 2)) == 0;
  };
  const auto same_float = [](float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); };
  if (table.pos != pos || table.head_size != head_size || !same_float(table.spec.theta, spec.theta) ||
      table.spec.neox != spec.neox || !same_float(table.spec.position_scale, spec.position_scale) ||
      !same_factors()) {
    for (int i = 0; i < head_size / 2; ++i) {
      const float angle = reference::rope_angle(i, head_size, pos, spec);
      const float c = std::cos(angle), s = std::sin(angle);
      if (spec.neox) {
        table.cos[i] = c;
        table.sin[i] = s;
      } else {
        table.cos[2 * i] = table.cos[2 * i + 1] = c;
        table.sin[2 * i] = -s;
        table.sin[2 * i + 1] = s;
      }
    }
    table.pos = pos, table.head_size = head_size, table.spec = spec;
    if (spec.freq_factors != nullptr)
      std::memcpy(table.factors, spec.freq_factors, sizeof(float) * static_cast<size_t>(head_size / 2));
  }
  const float* HWY_RESTRICT cos_table = table.cos;
  const float* HWY_RESTRICT sin_table = table.sin;
  if (spec.neox) {
    const size_t half = static_cast<size_t>(head_size / 2);
    for (int base = 0; base < n; base += head_size) {
      float* HWY_RESTRICT lo = v + base;
      float* HWY_RESTRICT hi = lo + half;
      for (size_t j = 0; j < half; j += N) {
        const size_t count = std::min(N, half - j);
        const V a = LoadPart(d, lo + j, count, 0.0f), b = LoadPart(d, hi + j, count, 0.0f);
        const V c = LoadPart(d, cos_table + j, count, 0.0f), s = LoadPart(d, sin_table + j, count, 0.0f);
        StorePart(d, hn::MulSub(a, c, hn::Mul(b, s)), lo + j, count);
        StorePart(d, hn::MulAdd(a, s, hn::Mul(b, c)), hi + j, count);
      }
    }
    return;
  }
  for (int base = 0; base < n; base += head_size) {
    float* HWY_RESTRICT h = v + base;
    const size_t len = static_cast<size_t>(std::min(head_size, n - base));
    for (size_t j = 0; j < len; j += N) {  // N and len are even: a vector never splits a pair
      const size_t count = std::min(N, len - j);
      const V a = LoadPart(d, h + j, count, 0.0f);
      const V rotated = hn::MulAdd(a, LoadPart(d, cos_table + j, count, 0.0f),
                                   hn::Mul(hn::Reverse2(d, a), LoadPart(d, sin_table + j, count, 0.0f)));
      StorePart(d, rotated, h + j, count);
    }
  }
}

// The first index of the largest value, as reference::argmax: one pass for the maximum with
// NaNs read as -inf, one for its first position. The scalar loop it replaces chained each
// step's compare to the previous step's pick through a load (137 us for 32000 logits here;
// this takes a few).
std::int64_t ArgMax(const float* HWY_RESTRICT x, std::int64_t n) {
  if (n <= 1 || std::isnan(x[0])) return 0;
  const D d;
  const size_t N = hn::Lanes(d), len = static_cast<size_t>(n);
  const float kNegInf = -std::numeric_limits<float>::infinity();
  V m = hn::Set(d, kNegInf);
  for (size_t i = 0; i < len; i += N) {
    const V v = LoadPart(d, x + i, std::min(N, len - i), kNegInf);
    m = hn::Max(m, hn::IfThenElse(hn::Eq(v, v), v, hn::Set(d, kNegInf)));  // v != v: NaN
  }
  const V best = hn::MaxOfLanes(d, m);
  for (size_t i = 0; i < len; i += N) {
    const V v = LoadPart(d, x + i, std::min(N, len - i), std::numeric_limits<float>::quiet_NaN());
    const intptr_t lane = hn::FindFirstTrue(d, hn::Eq(v, best));
    if (lane >= 0) return static_cast<std::int64_t>(i) + lane;
  }
  return 0;  // not reached: the maximum is one of the values
}

void AttentionHead(const float* HWY_RESTRICT q, const float* HWY_RESTRICT k, const float* HWY_RESTRICT v,
                   std::int64_t kv_stride, int head_size, int n_pos, float* HWY_RESTRICT scores,
                   float* HWY_RESTRICT out) {
  const D d;
  const size_t N = hn::Lanes(d), hs = static_cast<size_t>(head_size), ld = static_cast<size_t>(kv_stride);
  const size_t positions = static_cast<size_t>(std::max(n_pos, 0));
  if (positions == 0) {
    for (size_t i = 0; i < hs; i += N) StorePart(d, hn::Zero(d), out + i, std::min(N, hs - i));
    return;
  }

  // Scores four positions at a time, sharing the loads of q.
  size_t t = 0;
  for (; t + 4 <= positions; t += 4) DotTile<4, 1, 1>(k + t * ld, ld, q, 0, hs, scores + t);
  for (; t < positions; ++t) DotTile<1, 1, 1>(k + t * ld, ld, q, 0, hs, scores + t);
  const V scale = hn::Set(d, 1.0f / std::sqrt(static_cast<float>(head_size)));
  for (size_t i = 0; i < positions; i += N) {
    const size_t count = std::min(N, positions - i);
    StorePart(d, hn::Mul(LoadPart(d, scores + i, count, 0.0f), scale), scores + i, count);
  }
  Softmax(scores, n_pos);

  // out = sum_t p_t v_t, each element summed in position order as in the reference. The
  // sums stay in registers, four vectors at a time, and out is written once: with threads,
  // neighbouring heads of one item belong to different threads, and re-storing out at every
  // position bounced the cache line they share at a head boundary between the cores.
  for (size_t i = 0; i < hs; i += 4 * N) {
    size_t count[4];
    for (size_t j = 0; j < 4; ++j) count[j] = i + j * N < hs ? std::min(N, hs - i - j * N) : 0;
    V o0 = hn::Zero(d), o1 = hn::Zero(d), o2 = hn::Zero(d), o3 = hn::Zero(d);
    const float* HWY_RESTRICT vi = v + i;
    for (size_t pos = 0; pos < positions; ++pos, vi += ld) {
      const V p = hn::Set(d, scores[pos]);
      o0 = hn::MulAdd(p, LoadPart(d, vi, count[0], 0.0f), o0);
      if (count[1] != 0) o1 = hn::MulAdd(p, LoadPart(d, vi + N, count[1], 0.0f), o1);
      if (count[2] != 0) o2 = hn::MulAdd(p, LoadPart(d, vi + 2 * N, count[2], 0.0f), o2);
      if (count[3] != 0) o3 = hn::MulAdd(p, LoadPart(d, vi + 3 * N, count[3], 0.0f), o3);
    }
    StorePart(d, o0, out + i, count[0]);
    StorePart(d, o1, out + i + N, count[1]);
    StorePart(d, o2, out + i + 2 * N, count[2]);
    StorePart(d, o3, out + i + 3 * N, count[3]);
  }
}

std::int64_t TargetId() { return HWY_TARGET; }

}  // namespace llama2::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

// ------------------------------------------------------------------------------------------
// Dispatch: compiled once, after all targets.
#if HWY_ONCE
namespace llama2::simd {

HWY_EXPORT(MatvecRows);
HWY_EXPORT(MatmulRows);
HWY_EXPORT(Dot);
HWY_EXPORT(Axpy);
HWY_EXPORT(RmsNorm);
HWY_EXPORT(Softmax);
HWY_EXPORT(ArgMax);
HWY_EXPORT(Swiglu);
HWY_EXPORT(Rope);
HWY_EXPORT(AttentionHead);
HWY_EXPORT(TargetId);

void matvec_rows(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatvecRows)(w, x, y, row_begin, row_end);
}
void matmul_rows(const Tensor& w, const float* x, float* y, int n_tokens, std::int64_t row_begin,
                 std::int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatmulRows)(w, x, y, n_tokens, row_begin, row_end);
}
float dot(const float* a, const float* b, int n) { return HWY_DYNAMIC_DISPATCH(Dot)(a, b, n); }
void axpy(float a, const float* x, float* y, int n) { HWY_DYNAMIC_DISPATCH(Axpy)(a, x, y, n); }
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(out, x, weight, n, eps);
}
void softmax(float* x, int n) { HWY_DYNAMIC_DISPATCH(Softmax)(x, n); }
std::int64_t argmax(const float* x, std::int64_t n) { return HWY_DYNAMIC_DISPATCH(ArgMax)(x, n); }
void swiglu(float* h1, const float* h3, int n) { HWY_DYNAMIC_DISPATCH(Swiglu)(h1, h3, n); }
void rope(float* v, int n, int head_size, Position pos, const RopeSpec& spec) {
  HWY_DYNAMIC_DISPATCH(Rope)(v, n, head_size, pos, spec);
}
void attention_head(const float* q, const float* k, const float* v, std::int64_t kv_stride, int head_size,
                    int n_pos, float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttentionHead)(q, k, v, kv_stride, head_size, n_pos, scores, out);
}
std::int64_t target() { return HWY_DYNAMIC_DISPATCH(TargetId)(); }

}  // namespace llama2::simd
#endif  // HWY_ONCE
