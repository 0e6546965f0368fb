// The AVX-512 quantized kernels (512-bit vectors, VNNI's vpdpbusd), included by
// x86-inl.hpp inside its namespace when LLAMA2_QUANT_AVX512 is set; with
// LLAMA2_QUANT_VBMI also set, Q4_0 uses VBMI's byte permutes. No include guard on purpose.
//
// Q8_0, Q4_0, Q4_1 and Q6_K put two 32-value blocks in one 512-bit vector with a permuted pair
// of scales; Q4_K and Q5_K put 16-value pieces of four sub-blocks in one (KSuperBlock); and
// Q8_GROUPED's groups of 64 (llama2.c's default) fill one vector. A row is reduced through two
// fp32 sums used alternately (blocks in order). Rows go one after another (RowsOneByOne512)
// except for the 4-bit types with several tokens, where four rows' 256-value steps go side by
// side (Rows512: a Step kernel). Either way each row takes the same steps in the same order, so
// its result never depends on its neighbours, on the number of tokens, or on the thread count.

// GCC 12's AVX-512 headers pass _mm512_undefined_*() as the unused merge source of unmasked
// intrinsics, which -Wmaybe-uninitialized reports at every use (a compiler false positive).
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// ---- Shared pieces -------------------------------------------------------------------------

// The running sums of one row: two fp32 vectors used alternately (blocks in order), and a side
// vector for per-block terms outside the integer dot (Q4_0/Q4_1 offsets, K-quant mins).
struct Acc {
  __m512 acc0, acc1;
  __m256 side;
};

// [v[i] x 8 | v[j] x 8] as permutexvar indices.
inline __m512i SubPairIndex(int i, int j) {
  return _mm512_set_epi32(j, j, j, j, j, j, j, j, i, i, i, i, i, i, i, i);
}
// [v[2k] x 8 | v[2k+1] x 8] for k = 0..3.
inline __m512i PairIndex(int k) { return SubPairIndex(2 * k, 2 * k + 1); }

// acc += float(dot) * [scales[2k] x 8 | scales[2k+1] x 8]
inline __m512 ScalePair(__m512i dot, __m256 scales, int k, __m512 acc) {
  const __m512 s = _mm512_permutexvar_ps(PairIndex(k), _mm512_castps256_ps512(scales));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc);
}

// Pair k of a step's four: even pairs go to acc0, odd ones to acc1.
inline void AddPair(Acc& acc, __m512i dot, __m256 scales, int k) {
  if (k % 2 == 0) acc.acc0 = ScalePair(dot, scales, k, acc.acc0);
  else acc.acc1 = ScalePair(dot, scales, k, acc.acc1);
}

// Signed x signed bytes, 64 at a time (no vpsignb in AVX-512: negate x where w < 0).
inline __m512i DotSS512(__m512i w, __m512i x) {
  const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), xs);
}

// Signed x signed bytes through the unsigned operand: w XOR 0x80 is w + 128 as an unsigned byte,
// so this is sum((w + 128) x) = sum(w x) + 128 sum(x) per lane, two instructions instead of
// DotSS512's four. The caller takes 128 d_w * (d_x sum(x)) off per block, from the
// activations' dsum (the same route as Q4_0's -8 offset).
inline __m512i DotBiased512(__m512i w, __m512i x) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w, _mm512_set1_epi8(-128)), x);
}

// The eight f16 scales of eight consecutive blocks (`stride` bytes apart, scale first) as fp32.
inline __m256 BlockScales8(const std::uint8_t* blk, int stride) {
  alignas(16) std::uint16_t h[8];
  for (int i = 0; i < 8; ++i) h[i] = load_u16(blk + i * stride);
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

inline __m512 AddTail(__m512 sum, float tail) { return _mm512_add_ps(sum, _mm512_zextps128_ps512(_mm_set_ss(tail))); }

// ---- Q8_0, Q4_0, Q4_1: eight 32-value blocks per step ------------------------------------
// Fmt::Scales8 gives the eight blocks' f16 scales, Fmt::PairDot(blk, k, x) the int32 lane sums
// of blocks 2k and 2k+1 (lower and upper 256 bits). A block whose values are d * q + c (c = -8 d
// for Q4_0's nibbles, the stored min m for Q4_1) adds c * sum(x) on top: Fmt::Bias8 gives c for
// eight blocks, gathered in the side vector. A tail of fewer than eight blocks goes through the
// 256-bit code (Fmt::Block256).

// The row's blocks from block b on (fewer than eight), through the 256-bit code.
template <class Fmt>
inline float PairsTail(const std::uint8_t* row, const Acts& a, std::int64_t n, std::int64_t b) {
  if (b >= n / kQK) return 0.0f;
  Acts rest = a;
  rest.q += b * kQK;
  rest.d += b;
  rest.dsum += b;
  return RowBlocks32<typename Fmt::Block256>(row + b * Fmt::kBytes, rest, n - b * kQK);
}

// [lo x 8 | hi x 8]
inline __m512 Halves(float lo, float hi) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(lo)), _mm256_castps_pd(_mm256_set1_ps(hi)), 1));
}

// The row's blocks from block b on (fewer than eight): pairs of blocks in 512-bit vectors, each
// pair's scales and offsets taken one by one (the eight-block loads would read past the row),
// then an odd last block through PairsTail. Before, every leftover block went through the
// 256-bit code: rows of 896 values (Qwen2.5-0.5B's dim, 24 + 4 blocks) spent 38 % of their time
// on their last four blocks. Returns the pairs' lane sums with the rest added in lane 0.
template <class Fmt>
inline __m512 PairsRest(const std::uint8_t* row, const Acts& a, std::int64_t n, std::int64_t b) {
  const std::int64_t nb = n / kQK;
  __m512 acc = _mm512_setzero_ps();
  float side = 0.0f;
  for (; b + 2 <= nb; b += 2) {
    const std::uint8_t* blk = row + b * Fmt::kBytes;
    const float d0 = F16(blk), d1 = F16(blk + Fmt::kBytes);
    const __m512i dot = Fmt::FirstPairDot(blk, _mm512_loadu_si512(a.q + b * kQK));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), Halves(d0 * a.d[b], d1 * a.d[b + 1]), acc);
    if constexpr (Fmt::kBias) side += Fmt::Bias1(blk, d0) * a.dsum[b] + Fmt::Bias1(blk + Fmt::kBytes, d1) * a.dsum[b + 1];
  }
  return AddTail(acc, PairsTail<Fmt>(row, a, n, b) + side);
}

// The Step kernel of a row (Rows512): eight blocks per step, then PairsRest.
template <class Fmt>
struct Pairs {
  static constexpr std::int64_t kStep = 8 * kQK;
  [[gnu::always_inline]] static void Step(const std::uint8_t* row, const Acts& a, std::int64_t step, Acc& acc) {
    const std::int64_t b = step * 8;
    const std::uint8_t* blk = row + b * Fmt::kBytes;
    for (int line = 0; line < 8 * Fmt::kBytes; line += 64) Prefetch(blk + line);
    const __m256 d = Fmt::Scales8(blk);
    const __m256 scales = _mm256_mul_ps(d, _mm256_loadu_ps(a.d + b));
    if constexpr (Fmt::kBias) acc.side = _mm256_fmadd_ps(Fmt::Bias8(blk, d), _mm256_loadu_ps(a.dsum + b), acc.side);
    for (int k = 0; k < 4; ++k) AddPair(acc, Fmt::PairDot(blk, k, _mm512_loadu_si512(a.q + (b + 2 * k) * kQK)), scales, k);
  }
  static __m512 Finish(const std::uint8_t* row, const Acts& a, std::int64_t n, const Acc& acc) {
    __m512 sum = _mm512_add_ps(acc.acc0, acc.acc1);
    if constexpr (Fmt::kBias) sum = _mm512_add_ps(sum, _mm512_zextps256_ps512(acc.side));
    return _mm512_add_ps(sum, PairsRest<Fmt>(row, a, n, n / kStep * 8));
  }
};

// The same, one row alone (generation; see Rows512 for why this is kept apart).
template <class Fmt>
__m512 RowPairs512(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = Fmt::kBytes;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m256 offsets = _mm256_setzero_ps();
  const std::int64_t nb = n / kQK;
  std::int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const std::uint8_t* blk = row + b * kBytes;
    for (int line = 0; line < 8 * kBytes; line += 64) Prefetch(blk + line);
    const __m256 d = Fmt::Scales8(blk);
    const __m256 scales = _mm256_mul_ps(d, _mm256_loadu_ps(a.d + b));
    if constexpr (Fmt::kBias) offsets = _mm256_fmadd_ps(Fmt::Bias8(blk, d), _mm256_loadu_ps(a.dsum + b), offsets);
    for (int k = 0; k < 4; ++k) {
      const __m512i dot = Fmt::PairDot(blk, k, _mm512_loadu_si512(a.q + (b + 2 * k) * kQK));
      if (k % 2 == 0) acc0 = ScalePair(dot, scales, k, acc0);
      else acc1 = ScalePair(dot, scales, k, acc1);
    }
  }
  __m512 sum = _mm512_add_ps(acc0, acc1);
  if constexpr (Fmt::kBias) sum = _mm512_add_ps(sum, _mm512_zextps256_ps512(offsets));
  return _mm512_add_ps(sum, PairsRest<Fmt>(row, a, n, b));
}

// Q8_0: signed weights, offset by 128 (DotBiased512); the offset comes off as a bias of
// -128 d per block.
struct Q8_0x512 {
  using Block256 = Q8_0;
  static constexpr int kBytes = 34;
  static constexpr bool kBias = true;
  static __m256 Scales8(const std::uint8_t* blk) { return BlockScales8(blk, kBytes); }
  static __m256 Bias8(const std::uint8_t*, __m256 d) { return _mm256_mul_ps(d, _mm256_set1_ps(-128.0f)); }
  static float Bias1(const std::uint8_t*, float d) { return -128.0f * d; }
  static __m512i PairDot(const std::uint8_t* blk, int k, __m512i x) {
    const std::uint8_t* p = blk + 2 * k * kBytes;
    const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(Load32(p + 2)), Load32(p + kBytes + 2), 1);
    return DotBiased512(w, x);
  }
  // Blocks 0 and 1 from blk on, reading nothing past them.
  static __m512i FirstPairDot(const std::uint8_t* blk, __m512i x) { return PairDot(blk, 0, x); }
};

// The 16-byte nibble halves of two blocks `stride` bytes apart as [lo_b | hi_b | lo_b+1 | hi_b+1]
// (built as 128-bit lanes [q_b | q_b+1 | q_b >> 4 | q_b+1 >> 4], then reordered).
inline __m512i NibblePair(const std::uint8_t* q, int stride) {
  const __m256i both = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + stride)),
                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  const __m512i lanes = _mm512_inserti64x4(_mm512_castsi256_si512(both), _mm256_srli_epi16(both, 4), 1);
  return _mm512_and_si512(_mm512_shuffle_i64x2(lanes, lanes, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0F));
}

// Q4_0: values are d * (nibble - 8), so a block's dot is dpbusd(nibbles, x) - 8 * sum(x): the
// nibbles go in unsigned as they are (no sign trick).
struct Q4_0x512 {
  using Block256 = Q4_0;
  static constexpr int kBytes = 18;
  static constexpr bool kBias = true, kNibbleMins = false;
  static __m256 Scales8(const std::uint8_t* blk) { return BlockScales8(blk, kBytes); }
  static __m256 Bias8(const std::uint8_t*, __m256 d) { return _mm256_mul_ps(d, _mm256_set1_ps(-8.0f)); }
  static float Bias1(const std::uint8_t*, float d) { return -8.0f * d; }
  static __m512i PairDot(const std::uint8_t* blk, int k, __m512i x) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), NibblePair(blk + 2 * k * kBytes + 2, kBytes), x);
  }
  // Blocks 0 and 1 from blk on, reading nothing past them (NibblesVbmi inherits this: its
  // own PairDot reads 64-byte windows).
  static __m512i FirstPairDot(const std::uint8_t* blk, __m512i x) { return PairDot(blk, 0, x); }
};

// Q4_1: values are d * nibble + m, the nibbles unsigned as they are.
struct Q4_1x512 {
  using Block256 = Q4_1;
  static constexpr int kBytes = 20;
  static constexpr bool kBias = true, kNibbleMins = true;
  static __m256 Scales8(const std::uint8_t* blk) { return BlockScales8(blk, kBytes); }
  static __m256 Bias8(const std::uint8_t* blk, __m256) { return BlockScales8(blk + 2, kBytes); }
  static float Bias1(const std::uint8_t* blk, float) { return F16(blk + 2); }
  static __m512i PairDot(const std::uint8_t* blk, int k, __m512i x) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), NibblePair(blk + 2 * k * kBytes + 4, kBytes), x);
  }
  static __m512i FirstPairDot(const std::uint8_t* blk, __m512i x) { return PairDot(blk, 0, x); }
};

#if LLAMA2_QUANT_VBMI
// Q4_0 and Q4_1 with VBMI's byte permutes: the eight blocks (144 or 160 bytes) are read as four
// overlapping 64-byte windows, one per pair of blocks, and vpermb lays a pair's nibble bytes
// out as [q_b | q_b | q_b+1 | q_b+1]; a shift by 0 or 4 per 64-bit lane and a mask then give
// [low nibbles b | high nibbles b | low b+1 | high b+1], the order of the activations. The
// eight f16 scales (and Q4_1's mins) come out of two windows with one two-source permute. This
// is half the instructions of NibblePair and BlockScales8 (quant_bench, Q4_0: +25 % on one core).
// Base: the plain format (its FirstPairDot reads nothing past a pair, for the rows' tails);
// kNibbles: a block's nibble bytes' offset; kLast: the last window's start (no read past the
// eight blocks); kHigh: the window the scales of blocks 4-7 come from.
template <class Base, int kNibbles, int kLast, int kHigh>
struct NibblesVbmi : Base {
  static constexpr int kBytes = Base::kBytes;
  static constexpr int kWindow[4] = {0, 2 * kBytes, 4 * kBytes, kLast};
  struct Tables {
    alignas(64) std::uint8_t pair[4][64];
    alignas(64) std::uint8_t scales[64];  // bytes 0-15: the scales; 16-31: the mins (Q4_1)
  };
  static constexpr Tables MakeTables() {
    Tables t{};
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 64; ++j) {
        const int block = 2 * k + j / 32;  // bytes 0-31 come from block 2k, 32-63 from 2k+1
        t.pair[k][j] = static_cast<std::uint8_t>(block * kBytes + kNibbles + j % 16 - kWindow[k]);
      }
    // Blocks 0-3 from the window at 0, 4-7 from the one at kHigh (the second source: +64).
    for (int field = 0; field < 2; ++field)
      for (int i = 0; i < 8; ++i)
        for (int byte = 0; byte < 2; ++byte)
          t.scales[16 * field + 2 * i + byte] =
              static_cast<std::uint8_t>((i < 4 ? 0 : 64 + 4 * kBytes - kHigh) + kBytes * (i % 4) + 2 * field + byte);
    return t;
  }
  static const Tables& tables() {
    static constexpr Tables kTables = MakeTables();
    return kTables;
  }
  // Field 0: the eight f16 scales; field 1: the eight mins after them (Q4_1), as fp32.
  static __m256 Fields8(const std::uint8_t* blk, int field) {
    const __m512i index = _mm512_load_si512(tables().scales);
    const __m512i h = _mm512_permutex2var_epi8(_mm512_loadu_si512(blk), index, _mm512_loadu_si512(blk + kHigh));
    return _mm256_cvtph_ps(field == 0 ? _mm512_castsi512_si128(h) : _mm512_extracti32x4_epi32(h, 1));
  }
  static __m256 Scales8(const std::uint8_t* blk) { return Fields8(blk, 0); }
  static __m256 Bias8(const std::uint8_t* blk, __m256 d) {
    if constexpr (Base::kNibbleMins) return Fields8(blk, 1);
    else return Base::Bias8(blk, d);
  }
  static __m512i PairDot(const std::uint8_t* blk, int k, __m512i x) {
    __m512i w = _mm512_permutexvar_epi8(_mm512_load_si512(tables().pair[k]), _mm512_loadu_si512(blk + kWindow[k]));
    w = _mm512_and_si512(_mm512_srlv_epi64(w, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)), _mm512_set1_epi8(0x0F));
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, x);
  }
};
using Q4_0Vbmi = NibblesVbmi<Q4_0x512, 2, 80, 72>;   // 8 x 18 = 144 bytes
using Q4_1Vbmi = NibblesVbmi<Q4_1x512, 4, 96, 80>;   // 8 x 20 = 160 bytes
#endif

// ---- Q4_K, Q5_K: one 256-value super-block per step -----------------------------------------
// A super-block's 8 sub-block scales and mins are unpacked together (KScales: the 12-byte 6-bit
// layout, by byte shuffles). Its 128 bytes of nibbles are two 64-byte halves; half h holds
// sub-blocks 4h and 4h+1 (low and high nibbles of its first 32 bytes) and 4h+2, 4h+3 (of the
// other 32). Each half gives two vectors whose 16 int32 lanes stay with one sub-block each:
// [16-byte pieces: lo-nibble pair | the same bytes again], the high nibbles taken in the upper
// 256 bits. So both vectors of a half add into one integer sum before a single conversion and
// a single multiply by the per-lane sub-block scales (KSuperBlock), instead of a conversion,
// a scale permute and a multiply per 64 values. The activations come in the matching order
// (Acts::qk). Q5_K is Q4_K plus a fifth bit per value: bit j of qh byte i belongs to value i of
// sub-block j; a mask test adds it in as bit 4.

// The super-block's 16 six-bit values [scales 0-7 | mins 0-7], one per byte.
inline __m128i KSixBits(const std::uint8_t* blk) {
  // The 12 bytes q of 6-bit scales and mins (the first 16 bytes read, all inside the block):
  // scale j < 4 is q[j] & 63 and min j is q[j + 4] & 63; for j >= 4 the low 4 bits come from
  // q[j + 4] (scale: its low nibble, min: its high one) and the top 2 bits from the top bits
  // of q[j - 4] (scale) or q[j] (min) (see k_scale_min). Bytes are gathered so that each lane
  // of the result [scales 0-7 | mins 0-7] needs one mask, shift or or of them.
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ4KScales));
  const __m128i low = _mm_shuffle_epi8(q, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
  const __m128i top = _mm_shuffle_epi8(q, _mm_setr_epi8(0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7));
  const __m128i m3f = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
  const __m128i m0f = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
  const __m128i m30 = _mm_setr_epi8(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48);
  // 16-bit shifts: the bits a byte takes from its neighbour are masked off.
  return _mm_or_si128(_mm_or_si128(_mm_and_si128(low, m3f), _mm_and_si128(_mm_srli_epi16(low, 4), m0f)),
                      _mm_and_si128(_mm_srli_epi16(top, 2), m30));
}

// [scale_j x d (j < 8) | min_j x dmin]: the 16 six-bit values widened at once, times
// [d x 8 | dmin x 8].
inline __m512 KScaledSixBits(const std::uint8_t* blk) {
  const __m512 sc_m = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(KSixBits(blk)));
  const __m512 d_dmin = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                              _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadu_si32(blk))));
  return _mm512_mul_ps(sc_m, d_dmin);
}

// The super-block's eight sub-block scales times the activation scales `d` (a.d or a.dk, from
// block ab on); adds the mins' terms to mins_acc.
inline __m256 KScales(const std::uint8_t* blk, const Acts& a, const float* d, std::int64_t ab, __m256& mins_acc) {
  const __m512 scaled = KScaledSixBits(blk);
  mins_acc = _mm256_fmadd_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(scaled), 1)),
                             _mm256_loadu_ps(a.dsum + ab), mins_acc);
  return _mm256_mul_ps(_mm512_castps512_ps256(scaled), _mm256_loadu_ps(d + ab));
}

// Sub-block of each 128-bit piece of a half's vectors: low nibbles of its first and second 32
// bytes, then their high nibbles.
inline constexpr int kKPieceSubBlock[4] = {0, 2, 1, 3};

// The 8 scales (one per sub-block) laid out per lane of half h's vectors: [s(4h) x4 | s(4h+2) x4
// | s(4h+1) x4 | s(4h+3) x4].
inline __m512 KLaneScales(__m256 scales, int h) {
  const int b = 4 * h;
  return _mm512_permutexvar_ps(_mm512_set_epi32(b + 3, b + 3, b + 3, b + 3, b + 1, b + 1, b + 1, b + 1, b + 2, b + 2,
                                                b + 2, b + 2, b, b, b, b),
                               _mm512_castps256_ps512(scales));
}

// One super-block: its scales (KScales) and its two halves' integer sums, added into acc0
// (half 0) and acc1 (half 1). Q4_K takes the high nibbles as they sit in the byte (16 times the
// value: one AND, no shift), and the activation scales a.dk that have the 1/16 in them (exact,
// a power of two). Q5_K shifts them down, as it adds a fifth bit on top.
template <bool kFive>
[[gnu::always_inline]] inline void KSuperBlock(const std::uint8_t* blk, const Acts& a, std::int64_t ab, __m512& acc0,
                                               __m512& acc1, __m256& mins_acc) {
  const __m256 scales = KScales(blk, a, kFive ? a.d : a.dk, ab, mins_acc);
  const std::uint8_t* qs = blk + (kFive ? kQ5KQs : kQ4KQs);
  const std::int8_t* xk = a.qk + ab * kQK;
  const __m512i nibbles = kFive ? _mm512_set1_epi8(0x0F)
                                : _mm512_inserti64x4(_mm512_set1_epi8(0x0F), _mm256_set1_epi8(static_cast<char>(0xF0)), 1);
  for (int h = 0; h < 2; ++h) {
    const __m512i v = _mm512_loadu_si512(qs + 64 * h);
    __m512i sum = _mm512_setzero_si512();
    for (int p = 0; p < 2; ++p) {
      // Bytes 16p .. 16p+15 of each 32-byte run, twice: [run 0 | run 1 | run 0 | run 1].
      __m512i w = p == 0 ? _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(2, 0, 2, 0)) : _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 3, 1));
      if constexpr (kFive) {
        w = _mm512_and_si512(_mm512_srlv_epi64(w, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0)), nibbles);
        // Fifth bits of values 16p .. 16p+15 of every sub-block, in each 128-bit piece.
        const __m512i qh = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ5KQh + 16 * p)));
        alignas(64) std::int32_t bits[16];  // per 128-bit piece: its sub-block's qh bit, in every byte
        for (int lane = 0; lane < 16; ++lane) bits[lane] = 0x01010101 << (4 * h + kKPieceSubBlock[lane / 4]);
        const __m512i bit = _mm512_load_si512(bits);
        w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(qh, bit), w, _mm512_set1_epi8(0x10));
      } else {
        w = _mm512_and_si512(w, nibbles);
      }
      sum = _mm512_dpbusd_epi32(sum, w, _mm512_loadu_si512(xk + 128 * h + 64 * p));
    }
    if (h == 0) acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), KLaneScales(scales, 0), acc0);
    else acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), KLaneScales(scales, 1), acc1);
  }
}

template <bool kFive>
struct KQuant {
  static constexpr std::int64_t kStep = kQKK;
  static constexpr int kBytes = kFive ? 176 : 144;
  [[gnu::always_inline]] static void Step(const std::uint8_t* row, const Acts& a, std::int64_t step, Acc& acc) {
    const std::uint8_t* blk = row + step * kBytes;
    for (int line = 0; line < kBytes; line += 64) Prefetch(blk + line);
    KSuperBlock<kFive>(blk, a, step * 8, acc.acc0, acc.acc1, acc.side);
  }
  static __m512 Finish(const std::uint8_t*, const Acts&, std::int64_t, const Acc& acc) {
    return _mm512_sub_ps(_mm512_add_ps(acc.acc0, acc.acc1), _mm512_zextps256_ps512(acc.side));
  }
};

// The same, one row alone (generation): see Rows512 for why this is kept apart.
template <bool kFive>
__m512 RowKAvx512(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = KQuant<kFive>::kBytes;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m256 mins_acc = _mm256_setzero_ps();
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * kBytes;
    for (int line = 0; line < kBytes; line += 64) Prefetch(blk + line);
    KSuperBlock<kFive>(blk, a, sb * 8, acc0, acc1, mins_acc);
  }
  return _mm512_sub_ps(_mm512_add_ps(acc0, acc1), _mm512_zextps256_ps512(mins_acc));
}

// ---- Q6_K: one 256-value super-block per step, rows one after another ----------------------
// Q6_K: per half super-block, the 64 bytes of low nibbles and 32 bytes of high bit pairs give
// four 32-value blocks, built two per 512-bit vector (the two blocks of a pair take their high
// bits with different shifts: per-16-bit-lane shift counts). Each block's int32 lanes are
// multiplied by their 16-value sub-block's int8 scale, permuted out of the super-block's 16.
__m512 RowQ6KAvx512(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = 210;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  const __m512i lo4 = _mm512_set1_epi8(0x0F), hi2 = _mm512_set1_epi8(0x30), bias = _mm512_set1_epi8(32);
  // High bits of blocks 0|1 of a half: h << 4 | h << 2; of blocks 2|3: h | h >> 2.
  const __m512i shift_a = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shift_b = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * kBytes;
    for (int line = 0; line < kBytes; line += 64) Prefetch(blk + line);
    const std::int64_t ab = sb * 8;
    const __m256 scales = _mm256_mul_ps(_mm256_set1_ps(F16(blk + kQ6KD)), _mm256_loadu_ps(a.d + ab));
    const __m512i sub_scales = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ6KScales)));
    for (int half = 0; half < 2; ++half) {
      const __m512i l = _mm512_loadu_si512(blk + kQ6KQl + 64 * half);
      const __m512i h = _mm512_broadcast_i64x4(Load32(blk + kQ6KQh + 32 * half));
      const __m512i pairs[2] = {
          _mm512_or_si512(_mm512_and_si512(l, lo4), _mm512_and_si512(_mm512_sllv_epi16(h, shift_a), hi2)),
          _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), lo4),
                          _mm512_and_si512(_mm512_srlv_epi16(h, shift_b), hi2)),
      };
      for (int k = 0; k < 2; ++k) {
        const int p = 2 * half + k;  // pair p holds blocks 2p and 2p+1 = sub-blocks 4p .. 4p+3
        const __m512i w = _mm512_sub_epi8(pairs[k], bias);
        __m512i dot = DotSS512(w, _mm512_loadu_si512(a.q + (ab + 2 * p) * kQK));
        const __m512i lane_sub_block = _mm512_add_epi32(_mm512_set1_epi32(4 * p),
                                                        _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2));
        dot = _mm512_mullo_epi32(dot, _mm512_permutexvar_epi32(lane_sub_block, sub_scales));
        if (k == 0) acc0 = ScalePair(dot, scales, p, acc0);
        else acc1 = ScalePair(dot, scales, p, acc1);
      }
    }
  }
  return _mm512_add_ps(acc0, acc1);
}

// ---- Q8_GROUPED (llama2.c version 2), rows one after another -------------------------------
// With AVX-512, a group of 64 is one 512-bit vector, so its scale is still a broadcast: half
// the instructions of two 256-bit steps. AVX-512 has no vpsignb: x is negated under the mask
// of w's negative bytes instead.
inline __m512 Group64Avx512(const std::int8_t* w, const std::int8_t* x, float scale, __m512 acc) {
  const __m512i wv = _mm512_loadu_si512(w), xv = _mm512_loadu_si512(x);
  const __m512i xs = _mm512_mask_sub_epi8(xv, _mm512_movepi8_mask(wv), _mm512_setzero_si512(), xv);
  const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(wv), xs);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(scale), acc);
}

float RowQ8Grouped64Avx512(const std::int8_t* q, const float* s, const Acts& a, std::int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  const std::int64_t groups = n / 64;
  std::int64_t g = 0;
  for (; g + 2 <= groups; g += 2) {
    Prefetch(q + g * 64);
    Prefetch(q + g * 64 + 64);
    acc0 = Group64Avx512(q + g * 64, a.q + g * 64, s[g] * a.d[g], acc0);
    acc1 = Group64Avx512(q + (g + 1) * 64, a.q + (g + 1) * 64, s[g + 1] * a.d[g + 1], acc1);
  }
  if (g < groups) acc0 = Group64Avx512(q + g * 64, a.q + g * 64, s[g] * a.d[g], acc0);
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
// Q8_GROUPED with groups of 32 (llama2.c files whose dim is no multiple of 64, e.g.
// stories15M's 288): two groups per 512-bit vector, like Q8_0 but with the scales in their own
// array. Eight groups per step; a tail of fewer goes through the 256-bit code.
float RowQ8Grouped32Avx512(const std::int8_t* q, const float* s, const Acts& a, std::int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  const std::int64_t groups = n / kQK;
  std::int64_t g = 0;
  for (; g + 8 <= groups; g += 8) {
    for (int line = 0; line < 4; ++line) Prefetch(q + g * kQK + 64 * line);
    const __m256 scales = _mm256_mul_ps(_mm256_loadu_ps(s + g), _mm256_loadu_ps(a.d + g));
    for (int k = 0; k < 4; ++k) {
      const std::int64_t at = (g + 2 * k) * kQK;
      const __m512i dot = DotSS512(_mm512_loadu_si512(q + at), _mm512_loadu_si512(a.q + at));
      if (k % 2 == 0) acc0 = ScalePair(dot, scales, k, acc0);
      else acc1 = ScalePair(dot, scales, k, acc1);
    }
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (g < groups) {
    Acts rest = a;
    rest.q += g * kQK;
    rest.d += g;
    sum += GroupRow<32>(q + g * kQK, s + g, rest, n - g * kQK, kQK);
  }
  return sum;
}
// ---- Rows x tokens ---------------------------------------------------------------------------

// The lane sums of four rows' partial vectors, stored to out[0..3]: one transposing tree for
// four rows instead of four separate reductions (a 768-column row is only a few blocks long,
// so the reduction is a good part of its cost). A lone row is reduced with zero partners:
// its additions are the same, so a row's result does not depend on its neighbours.
inline __m256 AddHalves(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

inline void Reduce4Rows(const __m512* v, float* out) {
  const __m256 ab = _mm256_hadd_ps(AddHalves(v[0]), AddHalves(v[1])), cd = _mm256_hadd_ps(AddHalves(v[2]), AddHalves(v[3]));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // [a b c d] of the low 128 bits, then of the high
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

// The partial vectors of R rows, their steps side by side (step s of every row, then s + 1).
template <class Kernel, int R>
void RowsSideBySide(const std::uint8_t* const* rows, const Acts& a, std::int64_t n, __m512* out) {
  Acc acc[R];
  for (Acc& a_r : acc) a_r = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm256_setzero_ps()};
  const std::int64_t steps = n / Kernel::kStep;
  for (std::int64_t s = 0; s < steps; ++s) {
    // Unrolled, so that each row's sums stay in registers.
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) Kernel::Step(rows[r], a, s, acc[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = Kernel::Finish(rows[r], a, n, acc[r]);
}

// Rows x tokens, four rows at a time, one row after another: every type's generation, and
// Q8_0's and Q6_K's prompts. (Side by side, Q8_0 and Q6_K gained nothing with the weights in
// cache and streamed them more slowly from beyond it: quant_bench, 32000 x 768, best of 5:
// Q8_0 35 against 39 G values/s, Q6_K 32 against 34.)
template <__m512 (*RowPartial)(const std::uint8_t*, const Acts&, std::int64_t)>
void RowsOneByOne512(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy, std::int64_t row_begin,
             std::int64_t row_end) {
  const auto* base = reinterpret_cast<const std::uint8_t*>(w.data);
  const std::int64_t rb = w.row_bytes();
  for (std::int64_t r = row_begin; r < row_end; r += 4) {
    const int count = static_cast<int>(std::min<std::int64_t>(4, row_end - r));
    for (int t = 0; t < n_tokens; ++t) {
      __m512 v[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      for (int i = 0; i < count; ++i) v[i] = RowPartial(base + (r + i) * rb, acts[t], w.cols);
      alignas(16) float sums[4];
      Reduce4Rows(v, sums);
      for (int i = 0; i < count; ++i) y[t * ldy + r + i] = sums[i];
    }
  }
}

// Rows x tokens for the 4-bit step kernels, four rows at a time. With several tokens the rows
// go side by side: their weights stay in L1 across the tokens, and the overlap pays (110M
// shape, pp64 at 2 threads, six interleaved pairs: Q4_0 +50 %, Q4_K +14 %). A single token
// streams its weights from memory, and there rows side by side cost a third of the generation
// speed (110M Q4_0: 540 -> 370 tok/s) against the row kernel `Row` one row after another:
// the reads jump back and forth between four rows instead of running straight through memory.
template <class Kernel, __m512 (*Row)(const std::uint8_t*, const Acts&, std::int64_t)>
void Rows512(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy, std::int64_t row_begin,
             std::int64_t row_end) {
  if (n_tokens == 1) return RowsOneByOne512<Row>(w, acts, n_tokens, y, ldy, row_begin, row_end);
  for (std::int64_t r = row_begin; r < row_end; r += 4) {
    const int count = static_cast<int>(std::min<std::int64_t>(4, row_end - r));
    const std::uint8_t* rows[4];
    for (int i = 0; i < count; ++i) rows[i] = reinterpret_cast<const std::uint8_t*>(w.row_data(r + i));
    for (int t = 0; t < n_tokens; ++t) {
      __m512 v[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      if (count == 4) RowsSideBySide<Kernel, 4>(rows, acts[t], w.cols, v);
      else
        for (int i = 0; i < count; ++i) RowsSideBySide<Kernel, 1>(rows + i, acts[t], w.cols, v + i);
      alignas(16) float sums[4];
      Reduce4Rows(v, sums);
      for (int i = 0; i < count; ++i) y[t * ldy + r + i] = sums[i];
    }
  }
}

#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
