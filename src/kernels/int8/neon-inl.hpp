// The AArch64 quantized kernels, compiled twice by dispatch.cpp (inside a namespace, no
// include guard on purpose): plain NEON, the AArch64 baseline, and with the dot-product
// extension's target options in effect and LLAMA2_NEON_DOTPROD set (Armv8.2 and later: sdot
// does four products per lane). The CPU's HWCAP picks at run time, so one generic arm64 binary
// uses sdot where the CPU has it. The same algorithm as x86-inl.hpp, on pairs of 16-byte
// vectors per 32-value block. sdot multiplies signed by signed bytes, so no sign trick is
// needed: every type's integer values (at most 0..31 unsigned, or -128..127 signed) are used as
// signed bytes. Without sdot, widening multiplies and pairwise adds give the same sums.
// CI cross-compiles this and runs the tests under qemu-aarch64 (scripts/test-arm64.sh).

namespace {

#if LLAMA2_NEON_DOTPROD
inline int32x4_t Dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD) || !defined(__clang__)
  return vdotq_s32(acc, a, b);
#else
  // Clang's arm_neon.h (14, Debian 12's) declares vdotq_s32 only when the whole file targets
  // dotprod, so here the instruction is written out (.arch lets the assembler accept it).
  __asm__(".arch armv8.2-a+dotprod\n\tsdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
#endif
}
#else
inline int32x4_t Dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  // |a * b| <= 128 * 128 fits int16; pairs are added into int32 lanes.
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
}
#endif

// A block of 32 int8 values as two vectors.
struct V32 {
  int8x16_t lo, hi;
};

inline V32 Load32(const void* p) {
  const auto* b = static_cast<const std::int8_t*>(p);
  return {vld1q_s8(b), vld1q_s8(b + 16)};
}
inline int32x4_t Dot32(V32 w, V32 x) { return Dot16(Dot16(vdupq_n_s32(0), w.lo, x.lo), w.hi, x.hi); }
inline float F16(const std::uint8_t* p) { return f16_to_f32(load_u16(p)); }

// 16 bytes of packed nibbles -> the 16 low nibbles, then the 16 high nibbles.
inline V32 Nibbles(const std::uint8_t* p) {
  const uint8x16_t b = vld1q_u8(p);
  return {vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), vreinterpretq_s8_u8(vshrq_n_u8(b, 4))};
}

inline float32x4_t Scale(int32x4_t dot, float scale, float32x4_t acc) {
  return vfmaq_n_f32(acc, vcvtq_f32_s32(dot), scale);
}

// The fp32 vector the row skeleton (rows-inl.hpp) sums in. No software prefetch: the x86
// distance was measured on x86 only, and AArch64 cores prefetch streams well on their own.
using VecF = float32x4_t;
inline VecF ZeroF() { return vdupq_n_f32(0.0f); }
inline VecF AddF(VecF a, VecF b) { return vaddq_f32(a, b); }
inline float HSum(VecF v) { return vaddvq_f32(v); }
inline void Prefetch(const void*) {}

#include "kernels/int8/rows-inl.hpp"

struct Q8_0 {
  static constexpr int kBytes = 34;
  static float32x4_t Block(const std::uint8_t* blk, const Acts& a, std::int64_t b, float32x4_t acc, float&) {
    return Scale(Dot32(Load32(blk + 2), Load32(a.q + b * kQK)), F16(blk) * a.d[b], acc);
  }
};

struct Q4_0 {
  static constexpr int kBytes = 18;
  static float32x4_t Block(const std::uint8_t* blk, const Acts& a, std::int64_t b, float32x4_t acc, float&) {
    V32 w = Nibbles(blk + 2);
    w.lo = vsubq_s8(w.lo, vdupq_n_s8(8)), w.hi = vsubq_s8(w.hi, vdupq_n_s8(8));
    return Scale(Dot32(w, Load32(a.q + b * kQK)), F16(blk) * a.d[b], acc);
  }
};

struct Q4_1 {
  static constexpr int kBytes = 20;
  static float32x4_t Block(const std::uint8_t* blk, const Acts& a, std::int64_t b, float32x4_t acc, float& min_sum) {
    min_sum += F16(blk + 2) * a.dsum[b];
    return Scale(Dot32(Nibbles(blk + 4), Load32(a.q + b * kQK)), F16(blk) * a.d[b], acc);
  }
};

template <bool kFive>
float RowK(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  constexpr int kBytes = kFive ? 176 : 144;
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  float min_sum = 0.0f;
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * kBytes;
    const std::int64_t ab = sb * 8;
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
    for (int k = 0; k < 4; ++k) {
      const uint8x16_t v0 = vld1q_u8(qs + 32 * k), v1 = vld1q_u8(qs + 32 * k + 16);
      const uint8x16_t nib = vdupq_n_u8(0x0F);
      uint8x16_t lo0 = vandq_u8(v0, nib), lo1 = vandq_u8(v1, nib), hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
      if constexpr (kFive) {
        const std::uint8_t* qh = blk + kQ5KQh;
        const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16), sixteen = vdupq_n_u8(16);
        const uint8x16_t bit_lo = vdupq_n_u8(static_cast<std::uint8_t>(1u << (2 * k)));
        const uint8x16_t bit_hi = vdupq_n_u8(static_cast<std::uint8_t>(1u << (2 * k + 1)));
        lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(h0, bit_lo), sixteen));
        lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(h1, bit_lo), sixteen));
        hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(h0, bit_hi), sixteen));
        hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(h1, bit_hi), sixteen));
      }
      const std::int64_t j = 2 * k;
      const V32 lo{vreinterpretq_s8_u8(lo0), vreinterpretq_s8_u8(lo1)};
      const V32 hi{vreinterpretq_s8_u8(hi0), vreinterpretq_s8_u8(hi1)};
      acc0 = Scale(Dot32(lo, Load32(a.q + (ab + j) * kQK)), d * static_cast<float>(sc[j]) * a.d[ab + j], acc0);
      acc1 = Scale(Dot32(hi, Load32(a.q + (ab + j + 1) * kQK)), d * static_cast<float>(sc[j + 1]) * a.d[ab + j + 1],
                   acc1);
    }
  }
  return vaddvq_f32(vaddq_f32(acc0, acc1)) + min_sum;
}

float RowQ6K(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  const uint8x16_t nib = vdupq_n_u8(0x0F), two = vdupq_n_u8(0x30);
  for (std::int64_t sb = 0; sb < n / kQKK; ++sb) {
    const std::uint8_t* blk = row + sb * 210;
    const std::int64_t ab = sb * 8;
    const float d = F16(blk + kQ6KD);
    const auto* sc = reinterpret_cast<const std::int8_t*>(blk + kQ6KScales);
    for (int half = 0; half < 2; ++half) {
      const std::uint8_t* ql = blk + kQ6KQl + 64 * half;
      const std::uint8_t* qh = blk + kQ6KQh + 32 * half;
      for (int k = 0; k < 4; ++k) {
        // k: 0 low nibbles of ql[0..32) + qh bits 0-1, 1 low nibbles of ql[32..64) + bits 2-3,
        //    2 high nibbles of ql[0..32) + bits 4-5, 3 high nibbles of ql[32..64) + bits 6-7.
        int8x16_t w[2];
        for (int part = 0; part < 2; ++part) {
          const uint8x16_t l = vld1q_u8(ql + 32 * (k & 1) + 16 * part);
          const uint8x16_t h = vld1q_u8(qh + 16 * part);
          const uint8x16_t low = k < 2 ? vandq_u8(l, nib) : vshrq_n_u8(l, 4);
          uint8x16_t high;
          switch (k) {
            case 0: high = vshlq_n_u8(h, 4); break;
            case 1: high = vshlq_n_u8(h, 2); break;
            case 2: high = h; break;
            default: high = vshrq_n_u8(h, 2); break;
          }
          w[part] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, vandq_u8(high, two))), vdupq_n_s8(32));
        }
        const int j = 4 * half + k;
        const V32 x = Load32(a.q + (ab + j) * kQK);
        int32x4_t dot = vmulq_n_s32(Dot16(vdupq_n_s32(0), w[0], x.lo), sc[2 * j]);
        dot = vmlaq_n_s32(dot, Dot16(vdupq_n_s32(0), w[1], x.hi), sc[2 * j + 1]);
        if (k % 2 == 0) acc0 = Scale(dot, d * a.d[ab + j], acc0);
        else acc1 = Scale(dot, d * a.d[ab + j], acc1);
      }
    }
  }
  return vaddvq_f32(vaddq_f32(acc0, acc1));
}

// A Q8_GROUPED row, for groups of a multiple of 16.
constexpr int kGroupMultiple = 16;
float RowQ8Grouped(const Tensor& w, std::int64_t r, const Acts& a) {
  const std::int64_t n = w.cols, gs = w.group_size;
  const std::int8_t* q = w.i8() + r * n;
  const float* s = w.scales + r * (n / gs);
  float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (std::int64_t g = 0; g < n / gs; ++g) {
    int32x4_t dot = vdupq_n_s32(0);
    for (std::int64_t c = g * gs; c < (g + 1) * gs; c += 16) dot = Dot16(dot, vld1q_s8(q + c), vld1q_s8(a.q + c));
    acc[g & 1] = Scale(dot, s[g] * a.d[g], acc[g & 1]);
  }
  return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

template <bool kBf16>
float RowHalf(const std::uint8_t* row, const Acts& a, std::int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  std::int64_t c = 0;
  auto widen = [](const std::uint8_t* p) {
    uint16_t h[4];
    std::memcpy(h, p, sizeof h);
    const uint16x4_t v = vld1_u16(h);
    if constexpr (kBf16) return vreinterpretq_f32_u32(vshll_n_u16(v, 16));
    return vcvt_f32_f16(vreinterpret_f16_u16(v));
  };
  for (; c + 8 <= n; c += 8) {
    acc0 = vfmaq_f32(acc0, widen(row + 2 * c), vld1q_f32(a.x + c));
    acc1 = vfmaq_f32(acc1, widen(row + 2 * c + 8), vld1q_f32(a.x + c + 4));
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; c < n; ++c) {
    const std::uint16_t h = load_u16(row + 2 * c);
    sum += (kBf16 ? bf16_to_f32(h) : f16_to_f32(h)) * a.x[c];
  }
  return sum;
}

// ---- Activations: quantize_block's arithmetic, four values per instruction -----------------
// As the x86 version (x86-inl.hpp): the maximum is order-free, the product is rounded to
// fp32 first and fcvtns rounds it half to even, so the result is bit-identical to the scalar
// code; blocks with a NaN or infinity, or so tiny that 1 / d overflows, go to the scalar code.
void QuantizeActs(const float* x, std::int64_t n, int block, std::int8_t* q, float* d, float* dsum) {
  for (std::int64_t b = 0; b < n / block; ++b) {
    const float* xb = x + b * block;
    std::int8_t* qb = q + b * block;
    float32x4_t amax = vdupq_n_f32(0.0f);
    uint32x4_t finite = vdupq_n_u32(~0u);
    for (int i = 0; i < block; i += 4) {
      const float32x4_t v = vld1q_f32(xb + i), zero_or_nan = vsubq_f32(v, v);  // NaN for inf, NaN
      amax = vmaxq_f32(amax, vabsq_f32(v));
      finite = vandq_u32(finite, vceqq_f32(zero_or_nan, zero_or_nan));
    }
    const float scale = vmaxvq_f32(amax) / 127.0f, inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
    if (vminvq_u32(finite) == 0 || !std::isfinite(inverse)) {
      quantize_block(xb, block, qb, d[b], dsum[b]);
      continue;
    }
    const float32x4_t vinv = vdupq_n_f32(inverse);
    int32x4_t sum = vdupq_n_s32(0);
    for (int i = 0; i < block; i += 16) {
      int32x4_t v[4];
      for (int j = 0; j < 4; ++j) {
        v[j] = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xb + i + 4 * j), vinv));
        sum = vaddq_s32(sum, v[j]);
      }
      const int16x8_t lo = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
      const int16x8_t hi = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
      vst1q_s8(qb + i, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
    }
    d[b] = scale;
    dsum[b] = scale * static_cast<float>(vaddvq_s32(sum));
  }
}

inline void WiderRows(KernelSet&) {}  // none: the 128-bit kernels are all there is

}  // namespace

#include "kernels/int8/make_set-inl.hpp"
