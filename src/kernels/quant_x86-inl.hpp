// The x86 quantized kernels, written once and compiled once per instruction set: quant_simd.cpp
// includes this file inside a namespace with the target's compiler options in effect and with
// LLAMA2_DPBUSD(acc, u, s) defined as that target's way to add, to each int32 lane of acc, the
// four products of unsigned bytes u and signed bytes s that the lane covers (vpdpbusd with
// VNNI, vpmaddubsw + vpmaddwd without). No include guard on purpose.
//
// The portable kernels work on 32-value blocks in 256-bit vectors: one block is one vector,
// so a block's scale is a plain broadcast. With LLAMA2_QUANT_AVX512 set, Q8_GROUPED's groups
// of 64 (llama2.c's default) fill one 512-bit vector, and every ggml block type (Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) puts two blocks in one
// 512-bit vector with a permuted pair of scales (about twice the speed). Each 32-block's int32 lane
// sums are exact; they are converted to fp32, multiplied by the block's weight scale times
// activation scale, and accumulated in two fp32 vectors alternately (blocks in order), reduced
// once per row. Results therefore equal quant::reference up to the order of fp32 additions, and
// a row's result never depends on which rows or threads are around it.

namespace {

// ---- Integer dot products ------------------------------------------------------------------

// acc += per-lane sums of u (unsigned bytes) * s (signed bytes). Without VNNI the pairwise
// int16 sums of vpmaddubsw saturate beyond 32767: callers keep |u| <= 128 and |s| <= 127
// (2 * 128 * 127 = 32512), which holds for every operand below.
inline __m256i DotUS(__m256i acc, __m256i u, __m256i s) { return LLAMA2_DPBUSD(acc, u, s); }

// acc += per-lane sums of w * x for signed bytes: |w| times x with w's sign (|-128| = 128 is
// still right read as unsigned).
inline __m256i DotSS(__m256i acc, __m256i w, __m256i x) {
  return DotUS(acc, _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
}

inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m256i Bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }

// 16 bytes of packed nibbles -> 32 bytes: the 16 low nibbles, then the 16 high nibbles.
inline __m256i Nibbles(const std::uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), Bytes(0x0F));
}

inline float F16(const std::uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

inline float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc += float(dot) * scale
inline __m256 Scale(__m256i dot, float scale, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(scale), acc);
}

// Weights stream from memory once per matvec, row after row, and a core spends about a third
// of its time waiting for them (perf, stories42M's shape). Asking for the line 4 KB ahead of
// the one being read, as the loop goes, gave 5-8 % more tokens per second (provisional, noisy
// machine); prefetching a whole row up front gained nothing: the requests must be spread out.
inline void Prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p) + 4096, _MM_HINT_T0); }

// ---- One row of each type: sum_c W[r][c] x[c] ------------------------------------------------

// Types of 32-value blocks (Q8_0, Q4_0, Q4_1): Block(b, acts, index, acc, min_sum) adds one block.
template <class Fmt>
float RowBlocks32(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float min_sum = 0.0f;
  const std::int64_t nb = n / kQK;
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    Prefetch(row + b * Fmt::kBytes);
    acc0 = Fmt::Block(row + b * Fmt::kBytes, a, b, acc0, min_sum);
    acc1 = Fmt::Block(row + (b + 1) * Fmt::kBytes, a, b + 1, acc1, min_sum);
  }
  if (b < nb) acc0 = Fmt::Block(row + b * Fmt::kBytes, a, b, acc0, min_sum);
  return HSum(_mm256_add_ps(acc0, acc1)) + min_sum;
}

struct Q8_0 {
  static constexpr int kBytes = 34;
  static __m256 Block(const std::uint8_t* blk, const Acts& a, std::int64_t b, __m256 acc, float&) {
    const __m256i dot = DotSS(_mm256_setzero_si256(), Load32(blk + 2), Load32(a.q + b * kQK));
    return Scale(dot, F16(blk) * a.d[b], acc);
  }
};

struct Q4_0 {
  static constexpr int kBytes = 18;
  static __m256 Block(const std::uint8_t* blk, const Acts& a, std::int64_t b, __m256 acc, float&) {
    const __m256i w = _mm256_sub_epi8(Nibbles(blk + 2), Bytes(8));
    const __m256i dot = DotSS(_mm256_setzero_si256(), w, Load32(a.q + b * kQK));
    return Scale(dot, F16(blk) * a.d[b], acc);
  }
};

struct Q4_1 {
  static constexpr int kBytes = 20;
  static __m256 Block(const std::uint8_t* blk, const Acts& a, std::int64_t b, __m256 acc, float& min_sum) {
    const __m256i dot = DotUS(_mm256_setzero_si256(), Nibbles(blk + 4), Load32(a.q + b * kQK));
    min_sum += F16(blk + 2) * a.dsum[b];
    return Scale(dot, F16(blk) * a.d[b], acc);
  }
};

// Moves bit `from` of every byte to bit 4 (the 5th bit of a Q5_K value); other bits are junk.
inline __m256i BitTo4(__m256i h, int from) {
  // Shifting 16-bit lanes is safe here: bit 4 of each byte comes from the same byte.
  return from <= 4 ? _mm256_slli_epi16(h, 4 - from) : _mm256_srli_epi16(h, from - 4);
}

// Q4_K and Q5_K super-blocks: 8 sub-blocks of 32 with 6-bit scales and mins.
template <bool kFive>
float RowK(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = kFive ? 176 : 144;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float min_sum = 0.0f;
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * kBytes;
    for (int line = 0; line < kBytes; line += 64) Prefetch(blk + line);
    const std::int64_t ab = sb * 8;  // first activation block
    const float d = F16(blk), dmin = F16(blk + 2);
    const std::uint8_t* qs = blk + (kFive ? kQ5KQs : kQ4KQs);
    float mins = 0.0f;
    int sc[8];
    for (int j = 0; j < 8; ++j) {
      int m;
      k_scale_min(blk + kQ4KScales, j, sc[j], m);
      mins += static_cast<float>(m) * a.dsum[ab + j];
    }
    min_sum -= dmin * mins;
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kFive) qh = Load32(blk + kQ5KQh);
    for (int k = 0; k < 4; ++k) {
      const __m256i v = Load32(qs + 32 * k);
      __m256i lo = _mm256_and_si256(v, Bytes(0x0F));
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), Bytes(0x0F));
      if constexpr (kFive) {
        lo = _mm256_or_si256(lo, _mm256_and_si256(BitTo4(qh, 2 * k), Bytes(0x10)));
        hi = _mm256_or_si256(hi, _mm256_and_si256(BitTo4(qh, 2 * k + 1), Bytes(0x10)));
      }
      const std::int64_t j = 2 * k;
      acc0 = Scale(DotUS(_mm256_setzero_si256(), lo, Load32(a.q + (ab + j) * kQK)),
                   d * static_cast<float>(sc[j]) * a.d[ab + j], acc0);
      acc1 = Scale(DotUS(_mm256_setzero_si256(), hi, Load32(a.q + (ab + j + 1) * kQK)),
                   d * static_cast<float>(sc[j + 1]) * a.d[ab + j + 1], acc1);
    }
  }
  return HSum(_mm256_add_ps(acc0, acc1)) + min_sum;
}

// Q6_K super-blocks: 16 sub-blocks of 16 with int8 scales, applied to the int32 lanes (lanes
// 0-3 of a block's dot cover its first 16 bytes, lanes 4-7 the next 16).
[[maybe_unused]] float RowQ6K(const std::uint8_t* row, const Acts& a, std::int64_t n) {  // AVX-512: RowQ6KAvx512
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * 210;
    for (int line = 0; line < 210; line += 64) Prefetch(blk + line);
    const std::int64_t ab = sb * 8;
    const float d = F16(blk + kQ6KD);
    const auto* sc = reinterpret_cast<const std::int8_t*>(blk + kQ6KScales);
    for (int half = 0; half < 2; ++half) {
      const __m256i l0 = Load32(blk + kQ6KQl + 64 * half), l1 = Load32(blk + kQ6KQl + 64 * half + 32);
      const __m256i h = Load32(blk + kQ6KQh + 32 * half);
      const __m256i lo4 = Bytes(0x0F), hi2 = Bytes(0x30);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, lo4), _mm256_and_si256(_mm256_slli_epi16(h, 4), hi2)),
          _mm256_or_si256(_mm256_and_si256(l1, lo4), _mm256_and_si256(_mm256_slli_epi16(h, 2), hi2)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), lo4), _mm256_and_si256(h, hi2)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), lo4), _mm256_and_si256(_mm256_srli_epi16(h, 2), hi2)),
      };
      for (int k = 0; k < 4; ++k) {
        const int j = 4 * half + k;
        const __m256i w = _mm256_sub_epi8(q[k], Bytes(32));
        __m256i dot = DotSS(_mm256_setzero_si256(), w, Load32(a.q + (ab + j) * kQK));
        dot = _mm256_mullo_epi32(dot, _mm256_set_m128i(_mm_set1_epi32(sc[2 * j + 1]), _mm_set1_epi32(sc[2 * j])));
        if (k % 2 == 0) acc0 = Scale(dot, d * a.d[ab + j], acc0);
        else acc1 = Scale(dot, d * a.d[ab + j], acc1);
      }
    }
  }
  return HSum(_mm256_add_ps(acc0, acc1));
}

// Q8_GROUPED rows (llama2.c version 2) with groups of a multiple of 32: the group's int32 sums
// run over the whole group before its one scale is applied. kGroup is the group size when it
// is known at compile time (the loops then unroll), 0 for any multiple of 32.
template <int kGroup>
inline __m256i GroupDot(const std::int8_t* w, const std::int8_t* x, std::int64_t gs) {
  const std::int64_t n = kGroup ? kGroup : gs;
  __m256i dot = DotSS(_mm256_setzero_si256(), Load32(w), Load32(x));
  for (std::int64_t c = kQK; c < n; c += kQK) dot = DotSS(dot, Load32(w + c), Load32(x + c));
  return dot;
}

#if LLAMA2_QUANT_AVX512
// GCC 12's AVX-512 headers pass _mm512_undefined_*() as the unused merge source of unmasked
// intrinsics, which -Wmaybe-uninitialized reports at every use (a compiler false positive).
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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
// ---- 512-bit kernels for the ggml types: two 32-value blocks per vector ----
// The lower 256 bits hold one block's products, the upper 256 the next block's; the fp32
// scale vector is [scale_b x 8 | scale_b+1 x 8], permuted out of eight blocks' scales that
// are computed together (one f16 conversion and one multiply for eight blocks).

// [v[2k] x 8 | v[2k+1] x 8] for k = 0..3, as permutexvar indices.
inline __m512i PairIndex(int k) {
  return _mm512_set_epi32(2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1,
                          2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k);
}

// acc += float(dot) * [scales[2k] x 8 | scales[2k+1] x 8]
inline __m512 ScalePair(__m512i dot, __m256 scales, int k, __m512 acc) {
  const __m512 s = _mm512_permutexvar_ps(PairIndex(k), _mm512_castps256_ps512(scales));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc);
}

// Signed x signed bytes, 64 at a time (no vpsignb in AVX-512: negate x where w < 0).
inline __m512i DotSS512(__m512i w, __m512i x) {
  const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), xs);
}

// The eight f16 scales of eight consecutive blocks (`stride` bytes apart, scale first) as fp32.
inline __m256 BlockScales8(const std::uint8_t* blk, int stride) {
  alignas(16) std::uint16_t h[8];
  for (int i = 0; i < 8; ++i) h[i] = load_u16(blk + i * stride);
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

// Types of 32-value blocks with an f16 scale first, eight blocks (256 values) per step; a tail
// of fewer than eight blocks goes through the 256-bit code. Fmt::PairDot gives the int32 lane
// sums of two consecutive blocks (lower and upper 256 bits). A block whose values are
// d * q + c (c = -8 d for Q4_0's nibbles, the stored min m for Q4_1) adds c * sum(x) on top:
// Fmt::Bias8 gives c for eight blocks, and those terms are gathered in one vector.
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
    const __m256 d = BlockScales8(blk, kBytes);
    const __m256 scales = _mm256_mul_ps(d, _mm256_loadu_ps(a.d + b));
    if constexpr (Fmt::kBias) offsets = _mm256_fmadd_ps(Fmt::Bias8(blk, d), _mm256_loadu_ps(a.dsum + b), offsets);
    for (int k = 0; k < 4; ++k) {
      const __m512i dot = Fmt::PairDot(blk + 2 * k * kBytes, _mm512_loadu_si512(a.q + (b + 2 * k) * kQK));
      if (k % 2 == 0) acc0 = ScalePair(dot, scales, k, acc0);
      else acc1 = ScalePair(dot, scales, k, acc1);
    }
  }
  float tail = 0.0f;
  if (b < nb) {
    Acts rest = a;
    rest.q += b * kQK;
    rest.d += b;
    rest.dsum += b;
    tail = RowBlocks32<typename Fmt::Block256>(row + b * kBytes, rest, n - b * kQK);
  }
  __m512 sum = _mm512_add_ps(acc0, acc1);
  if constexpr (Fmt::kBias) sum = _mm512_add_ps(sum, _mm512_zextps256_ps512(offsets));
  return _mm512_add_ps(sum, _mm512_zextps128_ps512(_mm_set_ss(tail)));
}

// Q8_0: signed weights, so the sign trick of DotSS512.
struct Q8_0x512 {
  using Block256 = Q8_0;
  static constexpr int kBytes = 34;
  static constexpr bool kBias = false;
  static __m512i PairDot(const std::uint8_t* p, __m512i x) {
    const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(Load32(p + 2)), Load32(p + kBytes + 2), 1);
    return DotSS512(w, x);
  }
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
  static constexpr bool kBias = true;
  static __m256 Bias8(const std::uint8_t*, __m256 d) { return _mm256_mul_ps(d, _mm256_set1_ps(-8.0f)); }
  static __m512i PairDot(const std::uint8_t* p, __m512i x) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), NibblePair(p + 2, kBytes), x);
  }
};

// Q4_1: values are d * nibble + m, the nibbles unsigned as they are.
struct Q4_1x512 {
  using Block256 = Q4_1;
  static constexpr int kBytes = 20;
  static constexpr bool kBias = true;
  static __m256 Bias8(const std::uint8_t* blk, __m256) { return BlockScales8(blk + 2, kBytes); }
  static __m512i PairDot(const std::uint8_t* p, __m512i x) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), NibblePair(p + 4, kBytes), x);
  }
};

// Q4_K: a super-block's 8 sub-block scales and mins are unpacked together (the 12-byte
// 6-bit layout read as three 32-bit words), then each 32 bytes of nibbles give two sub-blocks
// (low nibbles: sub-block 2k, high: 2k+1) that fill one 512-bit vector.
// Q5_K is Q4_K plus a fifth bit per value: bit j of qh byte i belongs to value i of sub-block j;
// a mask test per pair of sub-blocks adds it in as bit 4.
template <bool kFive>
__m512 RowKAvx512(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = kFive ? 176 : 144;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m256 mins_acc = _mm256_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * kBytes;
    for (int line = 0; line < kBytes; line += 64) Prefetch(blk + line);
    const std::int64_t ab = sb * 8;  // first activation block
    std::uint32_t u[3];
    std::memcpy(u, blk + kQ4KScales, sizeof u);
    // Bytes 0-3 of scales/mins are the low 6 bits of u[0]/u[1]; bytes 4-7 take 4 bits from
    // u[2] and their top 2 bits from the top bits of u[0]/u[1] (see k_scale_min).
    const std::uint32_t sc_lo = u[0] & 0x3F3F3F3Fu, m_lo = u[1] & 0x3F3F3F3Fu;
    const std::uint32_t sc_hi = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    const std::uint32_t m_hi = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    // All 16 six-bit values widened at once, [scales | mins], times [d x 8 | dmin x 8].
    const __m512 sc_m = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi32(
        static_cast<int>(m_hi), static_cast<int>(m_lo), static_cast<int>(sc_hi), static_cast<int>(sc_lo))));
    const __m512 d_dmin = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                                _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadu_si32(blk))));
    const __m512 scaled = _mm512_mul_ps(sc_m, d_dmin);
    const __m256 scales = _mm256_mul_ps(_mm512_castps512_ps256(scaled), _mm256_loadu_ps(a.d + ab));
    mins_acc = _mm256_fmadd_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(scaled), 1)),
                               _mm256_loadu_ps(a.dsum + ab), mins_acc);
    const std::uint8_t* qs = blk + (kFive ? kQ5KQs : kQ4KQs);
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kFive) qh = _mm512_broadcast_i64x4(Load32(blk + kQ5KQh));
    for (int k = 0; k < 4; ++k) {
      const __m256i v = Load32(qs + 32 * k);
      __m512i w = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), low4);
      if constexpr (kFive) {
        const __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * k))),
                                                _mm256_set1_epi8(static_cast<char>(1 << (2 * k + 1))), 1);
        w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(qh, bits), w, _mm512_set1_epi8(0x10));  // bit 4 is clear
      }
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(a.q + (ab + 2 * k) * kQK));
      if (k % 2 == 0) acc0 = ScalePair(dot, scales, k, acc0);
      else acc1 = ScalePair(dot, scales, k, acc1);
    }
  }
  return _mm512_sub_ps(_mm512_add_ps(acc0, acc1), _mm512_zextps256_ps512(mins_acc));
}

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

// The lane sums of four rows' partial vectors, stored to out[0..3]: one transposing tree for
// four rows instead of four separate reductions (a 768-column row is only a few blocks long,
// so the reduction is a good part of its cost). A lone row is reduced with zero partners:
// its additions are the same, so a row's result does not depend on its neighbours.
inline __m256 AddHalves(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

inline void Reduce4Rows(__m512 a, __m512 b, __m512 c, __m512 d, float* out) {
  const __m256 ab = _mm256_hadd_ps(AddHalves(a), AddHalves(b)), cd = _mm256_hadd_ps(AddHalves(c), AddHalves(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // [a b c d] of the low 128 bits, then of the high
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

// Rows x tokens for the 512-bit row kernels, four rows at a time.
template <__m512 (*RowPartial)(const std::uint8_t*, const Acts&, std::int64_t)>
void Rows512(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy, std::int64_t row_begin,
             std::int64_t row_end) {
  const auto* base = reinterpret_cast<const std::uint8_t*>(w.data);
  const std::int64_t rb = w.row_bytes();
  for (std::int64_t r = row_begin; r < row_end; r += 4) {
    const int count = static_cast<int>(std::min<std::int64_t>(4, row_end - r));
    for (int t = 0; t < n_tokens; ++t) {
      __m512 v[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      for (int i = 0; i < count; ++i) v[i] = RowPartial(base + (r + i) * rb, acts[t], w.cols);
      alignas(16) float sums[4];
      Reduce4Rows(v[0], v[1], v[2], v[3], sums);
      for (int i = 0; i < count; ++i) y[t * ldy + r + i] = sums[i];
    }
  }
}

#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

template <int kGroup>
float RowQ8Grouped(const std::int8_t* q, const float* s, const Acts& a, std::int64_t n, std::int64_t gs) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const std::int64_t groups = n / gs;
  std::int64_t g = 0;
  for (; g + 2 <= groups; g += 2) {
    for (std::int64_t c = 0; c < 2 * gs; c += 64) Prefetch(q + g * gs + c);
    acc0 = Scale(GroupDot<kGroup>(q + g * gs, a.q + g * gs, gs), s[g] * a.d[g], acc0);
    acc1 = Scale(GroupDot<kGroup>(q + (g + 1) * gs, a.q + (g + 1) * gs, gs), s[g + 1] * a.d[g + 1], acc1);
  }
  if (g < groups) acc0 = Scale(GroupDot<kGroup>(q + g * gs, a.q + g * gs, gs), s[g] * a.d[g], acc0);
  return HSum(_mm256_add_ps(acc0, acc1));
}

// F16 / BF16: no integer arithmetic to gain; 8 values are widened to fp32 per step.
template <bool kBf16>
inline __m256 Widen8(const std::uint8_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kBf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

template <bool kBf16>
float RowHalf(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    Prefetch(row + 2 * c);
    acc0 = _mm256_fmadd_ps(Widen8<kBf16>(row + 2 * c), _mm256_loadu_ps(a.x + c), acc0);
    acc1 = _mm256_fmadd_ps(Widen8<kBf16>(row + 2 * c + 16), _mm256_loadu_ps(a.x + c + 8), acc1);
  }
  for (; c + 8 <= n; c += 8) acc0 = _mm256_fmadd_ps(Widen8<kBf16>(row + 2 * c), _mm256_loadu_ps(a.x + c), acc0);
  float sum = HSum(_mm256_add_ps(acc0, acc1));
  for (; c < n; ++c) {
    const std::uint16_t h = load_u16(row + 2 * c);
    sum += (kBf16 ? bf16_to_f32(h) : _cvtsh_ss(h)) * a.x[c];
  }
  return sum;
}

// ---- Rows x tokens -----------------------------------------------------------------------

template <float (*RowDot)(const std::uint8_t*, const Acts&, std::int64_t)>
void Rows(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy, std::int64_t row_begin,
          std::int64_t row_end) {
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(w.row_data(r));
    for (int t = 0; t < n_tokens; ++t) y[t * ldy + r] = RowDot(row, acts[t], w.cols);
  }
}

#if LLAMA2_QUANT_AVX512
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see Group64Avx512
#endif
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
    sum += RowQ8Grouped<32>(q + g * kQK, s + g, rest, n - g * kQK, kQK);
  }
  return sum;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

void RowsQ8Grouped(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy,
                   std::int64_t row_begin, std::int64_t row_end) {
  const std::int64_t n = w.cols, gs = w.group_size;
  if (gs % kQK != 0) {  // short groups (e.g. 4 for hidden_dim 172): the scalar kernel
    scalar_kernels().rows[static_cast<int>(DType::Q8_GROUPED)](w, acts, n_tokens, y, ldy, row_begin, row_end);
    return;
  }
  auto row_dot = [&](std::int64_t r, const Acts& a) {
    const std::int8_t* q = w.i8() + r * n;
    const float* s = w.scales + r * (n / gs);
#if LLAMA2_QUANT_AVX512
    if (gs == 64) return RowQ8Grouped64Avx512(q, s, a, n);
    if (gs == 32) return RowQ8Grouped32Avx512(q, s, a, n);
#endif
    if (gs == 32) return RowQ8Grouped<32>(q, s, a, n, gs);
    if (gs == 64) return RowQ8Grouped<64>(q, s, a, n, gs);
    return RowQ8Grouped<0>(q, s, a, n, gs);
  };
  for (std::int64_t r = row_begin; r < row_end; ++r)
    for (int t = 0; t < n_tokens; ++t) y[t * ldy + r] = row_dot(r, acts[t]);
}

}  // namespace

KernelSet MakeKernelSet(const char* name) {
  KernelSet k;
  k.name = name;
  auto set = [&](DType t, RowsFn fn) { k.rows[static_cast<int>(t)] = fn; };
  set(DType::F16, Rows<RowHalf<false>>);
  set(DType::BF16, Rows<RowHalf<true>>);
  set(DType::Q8_GROUPED, RowsQ8Grouped);
#if LLAMA2_QUANT_AVX512
  set(DType::Q8_0, Rows512<RowPairs512<Q8_0x512>>);
  set(DType::Q4_0, Rows512<RowPairs512<Q4_0x512>>);
  set(DType::Q4_1, Rows512<RowPairs512<Q4_1x512>>);
  set(DType::Q4_K, Rows512<RowKAvx512<false>>);
  set(DType::Q5_K, Rows512<RowKAvx512<true>>);
  set(DType::Q6_K, Rows512<RowQ6KAvx512>);
#else
  set(DType::Q8_0, Rows<RowBlocks32<Q8_0>>);
  set(DType::Q4_0, Rows<RowBlocks32<Q4_0>>);
  set(DType::Q4_1, Rows<RowBlocks32<Q4_1>>);
  set(DType::Q4_K, Rows<RowK<false>>);
  set(DType::Q5_K, Rows<RowK<true>>);
  set(DType::Q6_K, Rows<RowQ6K>);
#endif
  return k;
}
