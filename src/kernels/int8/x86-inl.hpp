// The x86 quantized kernels, written once and compiled once per instruction set: dispatch.cpp
// includes this file inside a namespace with the target's compiler options in effect and with
// LLAMA2_DPBUSD(acc, u, s) defined as that target's way to add, to each int32 lane of acc, the
// four products of unsigned bytes u and signed bytes s that the lane covers (vpdpbusd with
// VNNI, vpmaddubsw + vpmaddwd without). No include guard on purpose.
//
// The portable kernels work on 32-value blocks in 256-bit vectors: one block is one vector,
// so a block's scale is a plain broadcast. With LLAMA2_QUANT_AVX512 set, the 512-bit kernels
// of avx512-inl.hpp take over (about twice the speed). Each 32-block's int32 lane sums
// are exact; they are converted to fp32, multiplied by the block's weight scale times
// activation scale, and accumulated in two fp32 vectors alternately (blocks in order), reduced
// once per row. Results therefore equal int8::reference up to the order of fp32 additions, and
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

// The fp32 vector the row skeleton (rows-inl.hpp) sums in.
using VecF = __m256;
inline VecF ZeroF() { return _mm256_setzero_ps(); }
inline VecF AddF(VecF a, VecF b) { return _mm256_add_ps(a, b); }

// acc += float(dot) * scale
inline __m256 Scale(__m256i dot, float scale, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(scale), acc);
}

// Weights stream from memory once per matvec, row after row, and a core spends about a third
// of its time waiting for them (perf, stories42M's shape). Asking for the line 16 KB ahead of
// the one being read, as the loop goes, keeps enough requests in flight; prefetching a whole
// row up front gained nothing: the requests must be spread out. 4 KB ahead had first given
// 5-8 % over none; 16 KB against 4 KB, interleaved A/B against the bandwidth read beside each
// run, 1 thread: 110M q8_0 +8 %, q4_k +9 %, 42M q8_0 +18 %, 1.1B Q4_K +7 %, Q8_0 +1 %, 110M
// q4_0 -4 %; 2 threads: within the noise (-3 to +2 % on the models larger than the cache).
inline void Prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p) + 16384, _MM_HINT_T0); }

// ---- Activations: quantize_block's arithmetic, eight values per instruction ------------------
// max |x| as a tree of maxima (the same value as the scalar loop's), d = amax / 127, and
// q = x * (1 / d) rounded half to even: the product is rounded to fp32 first, then vcvtps2dq
// rounds it in the default rounding mode, as the scalar code's 1.5 * 2^23 trick does. So the
// result is bit-identical (tested). A block with a NaN or infinity, or so tiny that 1 / d
// overflows, goes to the scalar code.
void QuantizeActs(const float* x, std::int64_t n, int block, std::int8_t* q, float* d, float* dsum) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  // vpackssdw / vpacksswb work within 128-bit lanes; these 32-bit moves restore value order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (std::int64_t b = 0; b < n / block; ++b) {
    const float* xb = x + b * block;
    std::int8_t* qb = q + b * block;
    __m256 amax = _mm256_setzero_ps(), not_finite = _mm256_setzero_ps();
    for (int i = 0; i < block; i += 8) {
      const __m256 v = _mm256_loadu_ps(xb + i), zero_or_nan = _mm256_sub_ps(v, v);  // NaN for inf, NaN
      amax = _mm256_max_ps(amax, _mm256_and_ps(v, abs_mask));
      not_finite = _mm256_or_ps(not_finite, _mm256_cmp_ps(zero_or_nan, zero_or_nan, _CMP_UNORD_Q));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float scale = _mm_cvtss_f32(m) / 127.0f, inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
    if (_mm256_movemask_ps(not_finite) != 0 || !std::isfinite(inverse)) {
      quantize_block(xb, block, qb, d[b], dsum[b]);
      continue;
    }
    const __m256 vinv = _mm256_set1_ps(inverse);
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < block; i += 32) {
      __m256i v[4];
      for (int j = 0; j < 4; ++j) {
        v[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8 * j), vinv));
        sum = _mm256_add_epi32(sum, v[j]);
      }
      const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + i), _mm256_permutevar8x32_epi32(bytes, order));
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    d[b] = scale;
    dsum[b] = scale * static_cast<float>(_mm_cvtsi128_si32(s4));
  }
}

// ---- One row of each type: sum_c W[r][c] x[c] ------------------------------------------------

#include "kernels/int8/rows-inl.hpp"

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

// The 8 six-bit scales (low 8 bytes) and mins (high 8 bytes) of a Q4_K/Q5_K super-block, from
// its 12 scale bytes: sub-blocks 0-3 keep theirs in the low 6 bits of bytes 0-3 (scales) and
// 4-7 (mins); sub-blocks 4-7 have their low 4 bits in the nibbles of bytes 8-11 and their top
// 2 in the top bits of bytes 0-3 (scales) and 4-7 (mins). Four at a time in 32-bit words; the
// scalar k_scale_min is the reference.
inline __m128i KScalesMins(const std::uint8_t* p) {
  std::uint32_t w[3];
  std::memcpy(w, p, sizeof w);
  const std::uint32_t sc_lo = w[0] & 0x3f3f3f3f, mn_lo = w[1] & 0x3f3f3f3f;
  const std::uint32_t sc_hi = (w[2] & 0x0f0f0f0f) | (((w[0] >> 6) & 0x03030303) << 4);
  const std::uint32_t mn_hi = ((w[2] >> 4) & 0x0f0f0f0f) | (((w[1] >> 6) & 0x03030303) << 4);
  return _mm_set_epi32(static_cast<int>(mn_hi), static_cast<int>(mn_lo), static_cast<int>(sc_hi),
                       static_cast<int>(sc_lo));
}

// Lane j = the sum of the 8 int32 lanes of dots[j].
inline __m256i SumLanes8(const __m256i dots[8]) {
  const __m256i s0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(dots[0], dots[1]), _mm256_hadd_epi32(dots[2], dots[3]));
  const __m256i s4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(dots[4], dots[5]), _mm256_hadd_epi32(dots[6], dots[7]));
  // Each 128-bit half now holds the sums over that half's lanes: add the halves.
  return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20), _mm256_permute2x128_si256(s0123, s4567, 0x31));
}

// Q4_K and Q5_K super-blocks: 8 sub-blocks of 32 with 6-bit scales and mins. The 8 sub-block
// dots are summed into one vector (lane = sub-block), so the scales (d * scale * activation
// scale, 8 at once) cost one multiply-add per super-block instead of one per sub-block.
template <bool kFive>
float RowK(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = kFive ? 176 : 144;
  __m256 acc = _mm256_setzero_ps(), min_acc = _mm256_setzero_ps();
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * kBytes;
    for (int line = 0; line < kBytes; line += 64) Prefetch(blk + line);
    const std::int64_t ab = sb * 8;  // first activation block
    const std::uint8_t* qs = blk + (kFive ? kQ5KQs : kQ4KQs);
    const __m128i scales_mins = KScalesMins(blk + kQ4KScales);
    const __m256 scales = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scales_mins));
    const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(scales_mins, scales_mins)));
    min_acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(F16(blk + 2)), mins), _mm256_loadu_ps(a.dsum + ab), min_acc);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kFive) qh = Load32(blk + kQ5KQh);
    __m256i dots[8];
    for (int k = 0; k < 4; ++k) {
      const __m256i v = Load32(qs + 32 * k);
      __m256i lo = _mm256_and_si256(v, Bytes(0x0F));
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), Bytes(0x0F));
      if constexpr (kFive) {
        lo = _mm256_or_si256(lo, _mm256_and_si256(BitTo4(qh, 2 * k), Bytes(0x10)));
        hi = _mm256_or_si256(hi, _mm256_and_si256(BitTo4(qh, 2 * k + 1), Bytes(0x10)));
      }
      dots[2 * k] = DotUS(_mm256_setzero_si256(), lo, Load32(a.q + (ab + 2 * k) * kQK));
      dots[2 * k + 1] = DotUS(_mm256_setzero_si256(), hi, Load32(a.q + (ab + 2 * k + 1) * kQK));
    }
    const __m256 block_scales = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(F16(blk)), scales), _mm256_loadu_ps(a.d + ab));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(SumLanes8(dots)), block_scales, acc);
  }
  return HSum(acc) - HSum(min_acc);
}

// Q6_K super-blocks: 16 sub-blocks of 16 with int8 scales, applied to the int32 lanes (lanes
// 0-3 of a block's dot cover its first 16 bytes, lanes 4-7 the next 16).
float RowQ6K(const std::uint8_t* row, const Acts& a, std::int64_t n) {  // AVX-512: RowQ6KAvx512
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

template <int kGroup>
float GroupRow(const std::int8_t* q, const float* s, const Acts& a, std::int64_t n, std::int64_t gs) {
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

#if LLAMA2_QUANT_AVX512
#include "kernels/int8/avx512-inl.hpp"
#include "kernels/int8/gemm_avx512-inl.hpp"
#endif

// A Q8_GROUPED row: its group size picks the kernel (groups of a multiple of 32 only).
constexpr int kGroupMultiple = kQK;
float RowQ8Grouped(const Tensor& w, std::int64_t r, const Acts& a) {
  const std::int64_t n = w.cols, gs = w.group_size;
  const std::int8_t* q = w.i8() + r * n;
  const float* s = w.scales + r * (n / gs);
#if LLAMA2_QUANT_AVX512
  if (gs == 64) return RowQ8Grouped64Avx512(q, s, a, n);
  if (gs == 32) return RowQ8Grouped32Avx512(q, s, a, n);
#endif
  if (gs == 32) return GroupRow<32>(q, s, a, n, gs);
  if (gs == 64) return GroupRow<64>(q, s, a, n, gs);
  return GroupRow<0>(q, s, a, n, gs);
}

// The AVX-512 sets' 512-bit kernels over the 256-bit ones.
void WiderRows([[maybe_unused]] KernelSet& k) {
#if LLAMA2_QUANT_AVX512
  auto set = [&](DType t, RowsFn fn) { k.rows[static_cast<int>(t)] = fn; };
  set(DType::Q8_0, RowsOneByOne512<RowPairs512<Q8_0x512>>);
#if LLAMA2_QUANT_VBMI
  set(DType::Q4_0, Rows512<Pairs<Q4_0Vbmi>, RowPairs512<Q4_0Vbmi>>);
#else
  set(DType::Q4_0, Rows512<Pairs<Q4_0x512>, RowPairs512<Q4_0x512>>);
#endif
#if LLAMA2_QUANT_VBMI
  set(DType::Q4_1, Rows512<Pairs<Q4_1Vbmi>, RowPairs512<Q4_1Vbmi>>);
#else
  set(DType::Q4_1, Rows512<Pairs<Q4_1x512>, RowPairs512<Q4_1x512>>);
#endif
  set(DType::Q4_K, Rows512<KQuant<false>, RowKAvx512<false>>);
  set(DType::Q5_K, Rows512<KQuant<true>, RowKAvx512<true>>);
  set(DType::Q6_K, RowsOneByOne512<RowQ6KAvx512>);
  SetGemms(k);
#endif
}

}  // namespace

#include "kernels/int8/make_set-inl.hpp"
