// ============================================================================
// Rows of every weight type: fp16/bf16 conversion, and each block type's encoder and decoder,
// as plain scalar code. Layouts: dtype/blocks.hpp.
// ============================================================================
#include "dtype/codec.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "dtype/blocks.hpp"

namespace llama2::quant {

using namespace blocks;

// ---------------------------------------------------------------------------
// fp16 / bf16
// ---------------------------------------------------------------------------

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in fp32
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));  // inf, NaN
  return std::bit_cast<float>(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

std::uint16_t f32_to_f16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const int exp = static_cast<int>((bits >> 23) & 0xFF);
  const std::uint32_t mant = bits & 0x7FFFFF;
  if (exp == 0xFF) return sign | 0x7C00 | (mant ? 0x200 | (mant >> 13) : 0);  // inf; NaN stays quiet NaN
  const int e = exp - 127;
  if (e > 15) return sign | 0x7C00;  // overflow
  // Round the kept bits to nearest, ties to even. A carry out of the mantissa correctly bumps
  // the exponent (to infinity from 65504 upwards, to the smallest normal from subnormals).
  auto round_shift = [](std::uint32_t m, int shift) {
    std::uint32_t kept = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (kept & 1))) ++kept;
    return kept;
  };
  if (e >= -14) return sign | static_cast<std::uint16_t>(((e + 15) << 10) + round_shift(mant, 13));
  if (e >= -25) return sign | static_cast<std::uint16_t>(round_shift(mant | 0x800000, -e - 1));  // subnormal
  return sign;  // below half the smallest subnormal: zero
}

float bf16_to_f32(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7FFFFFFF) > 0x7F800000) return static_cast<std::uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  return static_cast<std::uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

namespace {

// The fp16 value nearest to v that is >= v (v >= 0 finite): block scales rounded up never
// push the largest value of a block out of the representable range.
std::uint16_t f16_round_up(float v) {
  std::uint16_t h = f32_to_f16(v);
  if (f16_to_f32(h) < v && h < 0x7BFF) ++h;  // positive halves order like their bits
  return h;
}

// nearbyint(v) clamped to [lo, hi]; NaN (from a NaN or infinite input) gives 0, since
// converting it to int is undefined.
int round_clamp(float v, int lo, int hi) {
  const float r = std::nearbyint(v);
  if (std::isnan(r)) return 0;
  return r < static_cast<float>(lo) ? lo : r > static_cast<float>(hi) ? hi : static_cast<int>(r);
}

// ceil(v) clamped to [0, hi], NaN giving 0 (see round_clamp).
int ceil_clamp(float v, int hi) {
  const float c = std::ceil(v);
  return !(c > 0.0f) ? 0 : c >= static_cast<float>(hi) ? hi : static_cast<int>(c);
}

void check_row(DType t, std::int64_t n) {
  if (t == DType::Q8_GROUPED) throw Error("q8_grouped rows carry no scales; use quantize_q8_grouped");
  const std::int64_t block = dtype_block_values(t);
  if (n <= 0 || n % block != 0)
    throw Error(std::string(dtype_name(t)) + " rows need a positive multiple of " + std::to_string(block) +
                " values, got " + std::to_string(n));
}

// ---------------------------------------------------------------------------
// Encoders, one block at a time
// ---------------------------------------------------------------------------

void quantize_q8_0(const float* x, std::uint8_t* b) {
  float amax = 0.0f;
  for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(x[i]));
  const std::uint16_t dh = f16_round_up(amax / 127.0f);
  const float d = f16_to_f32(dh), id = d > 0.0f ? 1.0f / d : 0.0f;
  store_u16(b, dh);
  for (int i = 0; i < kQK; ++i) b[2 + i] = static_cast<std::uint8_t>(round_clamp(x[i] * id, -127, 127));
}

// Q4_0: the value of largest magnitude maps to -8 exactly, so its sign decides the scale's.
void quantize_q4_0(const float* x, std::uint8_t* b) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < kQK; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
  const std::uint16_t dh = f32_to_f16(max / -8.0f);
  const float d = f16_to_f32(dh), id = d != 0.0f ? 1.0f / d : 0.0f;
  store_u16(b, dh);
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = round_clamp(x[j] * id, -8, 7) + 8, hi = round_clamp(x[j + 16] * id, -8, 7) + 8;
    b[2 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
  }
}

void quantize_q4_1(const float* x, std::uint8_t* b) {
  float mn = x[0], mx = x[0];
  for (int i = 1; i < kQK; ++i) mn = std::min(mn, x[i]), mx = std::max(mx, x[i]);
  const std::uint16_t dh = f16_round_up((mx - mn) / 15.0f), mh = f32_to_f16(mn);
  const float d = f16_to_f32(dh), m = f16_to_f32(mh), id = d > 0.0f ? 1.0f / d : 0.0f;
  store_u16(b, dh);
  store_u16(b + 2, mh);
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = round_clamp((x[j] - m) * id, 0, 15), hi = round_clamp((x[j + 16] - m) * id, 0, 15);
    b[4 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
  }
}

// Q4_K / Q5_K with `levels` = 15 / 31: each sub-block of 32 covers [min(0, lo), hi] with
// 6-bit multiples of two fp16 super-scales. Mins and scales round up, so nothing clips.
void quantize_k_affine(const float* x, int levels, std::uint8_t* b, std::uint8_t* scales, int q_out[kQKK]) {
  float lo[8], hi[8], max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    lo[j] = 0.0f, hi[j] = 0.0f;
    for (int i = 0; i < 32; ++i) lo[j] = std::min(lo[j], x[32 * j + i]), hi[j] = std::max(hi[j], x[32 * j + i]);
    max_min = std::max(max_min, -lo[j]);
  }
  const std::uint16_t dminh = f16_round_up(max_min / 63.0f);
  const float dmin = f16_to_f32(dminh);
  int m[8], sc[8];
  float need[8], max_need = 0.0f;
  for (int j = 0; j < 8; ++j) {
    m[j] = dmin > 0.0f ? ceil_clamp(-lo[j] / dmin, 63) : 0;
    need[j] = std::max(0.0f, hi[j] + dmin * static_cast<float>(m[j])) / static_cast<float>(levels);
    max_need = std::max(max_need, need[j]);
  }
  const std::uint16_t dh = f16_round_up(max_need / 63.0f);
  const float d = f16_to_f32(dh);
  for (int j = 0; j < 8; ++j) sc[j] = d > 0.0f ? ceil_clamp(need[j] / d, 63) : 0;
  store_u16(b, dh);
  store_u16(b + 2, dminh);
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<std::uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<std::uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<std::uint8_t>((sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4));
  }
  for (int j = 0; j < 8; ++j) {
    // Quantize against the decoded scale and min exactly as the decoder will rebuild them.
    const float step = d * static_cast<float>(sc[j]), offset = dmin * static_cast<float>(m[j]);
    const float inv = step > 0.0f ? 1.0f / step : 0.0f;
    for (int i = 0; i < 32; ++i) q_out[32 * j + i] = round_clamp((x[32 * j + i] + offset) * inv, 0, levels);
  }
}

void quantize_q4_k(const float* x, std::uint8_t* b) {
  int q[kQKK];
  quantize_k_affine(x, 15, b, b + kQ4KScales, q);
  std::uint8_t* qs = b + kQ4KQs;
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 32; ++l) qs[32 * k + l] = static_cast<std::uint8_t>(q[64 * k + l] | (q[64 * k + 32 + l] << 4));
}

void quantize_q5_k(const float* x, std::uint8_t* b) {
  int q[kQKK];
  quantize_k_affine(x, 31, b, b + kQ5KScales, q);
  std::uint8_t* qh = b + kQ5KQh;
  std::uint8_t* qs = b + kQ5KQs;
  std::fill(qh, qh + 32, std::uint8_t{0});
  for (int k = 0; k < 4; ++k) {
    for (int l = 0; l < 32; ++l) {
      const int a = q[64 * k + l], c = q[64 * k + 32 + l];
      qs[32 * k + l] = static_cast<std::uint8_t>((a & 0x0F) | ((c & 0x0F) << 4));
      qh[l] |= static_cast<std::uint8_t>(((a >> 4) << (2 * k)) | ((c >> 4) << (2 * k + 1)));
    }
  }
}

// Q6_K: each sub-block of 16 maps its value of largest magnitude to -32; the 16 sub-scales
// are int8 multiples of one fp16 super-scale.
void quantize_q6_k(const float* x, std::uint8_t* b) {
  float scale[16], max_scale = 0.0f;
  for (int h = 0; h < 16; ++h) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 16; ++i)
      if (std::fabs(x[16 * h + i]) > amax) amax = std::fabs(x[16 * h + i]), max = x[16 * h + i];
    scale[h] = max / -32.0f;
    max_scale = std::max(max_scale, std::fabs(scale[h]));
  }
  const std::uint16_t dh = f16_round_up(max_scale / 127.0f);
  const float d = f16_to_f32(dh), id = d > 0.0f ? 1.0f / d : 0.0f;
  auto* sc = reinterpret_cast<std::int8_t*>(b + kQ6KScales);
  int q[kQKK];
  for (int h = 0; h < 16; ++h) {
    sc[h] = static_cast<std::int8_t>(round_clamp(scale[h] * id, -128, 127));
    const float step = d * static_cast<float>(sc[h]), inv = step != 0.0f ? 1.0f / step : 0.0f;
    for (int i = 0; i < 16; ++i) q[16 * h + i] = round_clamp(x[16 * h + i] * inv, -32, 31) + 32;
  }
  std::uint8_t* ql = b + kQ6KQl;
  std::uint8_t* qh = b + kQ6KQh;
  for (int n = 0; n < 2; ++n) {
    for (int l = 0; l < 32; ++l) {
      const int* v = q + 128 * n + l;
      ql[64 * n + l] = static_cast<std::uint8_t>((v[0] & 0x0F) | ((v[64] & 0x0F) << 4));
      ql[64 * n + 32 + l] = static_cast<std::uint8_t>((v[32] & 0x0F) | ((v[96] & 0x0F) << 4));
      qh[32 * n + l] = static_cast<std::uint8_t>((v[0] >> 4) | ((v[32] >> 4) << 2) | ((v[64] >> 4) << 4) | ((v[96] >> 4) << 6));
    }
  }
  store_u16(b + kQ6KD, dh);
}

// ---------------------------------------------------------------------------
// Decoders (ggml's formulas, so values match ggml's dequantization)
// ---------------------------------------------------------------------------

void dequantize_block(DType t, const std::uint8_t* b, float* y) {
  switch (t) {
    case DType::Q8_0: {
      const float d = f16_to_f32(load_u16(b));
      for (int i = 0; i < kQK; ++i) y[i] = static_cast<float>(static_cast<std::int8_t>(b[2 + i])) * d;
      return;
    }
    case DType::Q4_0: {
      const float d = f16_to_f32(load_u16(b));
      for (int j = 0; j < kQK / 2; ++j) {
        y[j] = static_cast<float>((b[2 + j] & 0x0F) - 8) * d;
        y[j + 16] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
      }
      return;
    }
    case DType::Q4_1: {
      const float d = f16_to_f32(load_u16(b)), m = f16_to_f32(load_u16(b + 2));
      for (int j = 0; j < kQK / 2; ++j) {
        y[j] = static_cast<float>(b[4 + j] & 0x0F) * d + m;
        y[j + 16] = static_cast<float>(b[4 + j] >> 4) * d + m;
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const float d = f16_to_f32(load_u16(b)), dmin = f16_to_f32(load_u16(b + 2));
      const std::uint8_t* scales = b + (five ? kQ5KScales : kQ4KScales);
      const std::uint8_t* qs = b + (five ? kQ5KQs : kQ4KQs);
      const std::uint8_t* qh = five ? b + kQ5KQh : nullptr;
      for (int j = 0; j < 8; ++j) {
        int sc, m;
        k_scale_min(scales, j, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        for (int i = 32 * j; i < 32 * j + 32; ++i) y[i] = d1 * static_cast<float>(k_affine_value(qs, qh, i)) - m1;
      }
      return;
    }
    case DType::Q6_K: {
      const float d = f16_to_f32(load_u16(b + kQ6KD));
      const auto* sc = reinterpret_cast<const std::int8_t*>(b + kQ6KScales);
      for (int i = 0; i < kQKK; ++i) y[i] = d * static_cast<float>(sc[i / 16]) * static_cast<float>(q6_k_value(b, i) - 32);
      return;
    }
    default:
      return;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Public row API
// ---------------------------------------------------------------------------

bool can_quantize_row(DType t) { return t != DType::F32 && t != DType::Q8_GROUPED; }

std::uint64_t row_bytes(DType t, std::int64_t n) {
  check_row(t, n);
  return static_cast<std::uint64_t>(n / dtype_block_values(t)) * static_cast<std::uint64_t>(dtype_block_bytes(t));
}

void quantize_row(DType t, const float* in, void* out, std::int64_t n) {
  check_row(t, n);
  auto* o = static_cast<std::uint8_t*>(out);
  const std::int64_t block = dtype_block_values(t), bytes = dtype_block_bytes(t);
  for (std::int64_t i = 0; i < n / block; ++i) {
    const float* x = in + i * block;
    std::uint8_t* b = o + i * bytes;
    switch (t) {
      case DType::F16:
        store_u16(b, f32_to_f16(*x));
        break;
      case DType::BF16:
        store_u16(b, f32_to_bf16(*x));
        break;
      case DType::Q8_0: quantize_q8_0(x, b); break;
      case DType::Q4_0: quantize_q4_0(x, b); break;
      case DType::Q4_1: quantize_q4_1(x, b); break;
      case DType::Q4_K: quantize_q4_k(x, b); break;
      case DType::Q5_K: quantize_q5_k(x, b); break;
      case DType::Q6_K: quantize_q6_k(x, b); break;
      default:
        throw Error(std::string("cannot quantize rows to ") + dtype_name(t));
    }
  }
}

void dequantize_row(DType t, const void* in, float* out, std::int64_t n) {
  check_row(t, n);
  const auto* p = static_cast<const std::uint8_t*>(in);
  switch (t) {
    case DType::F32:
      std::memcpy(out, p, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case DType::F16:
      for (std::int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(load_u16(p + 2 * i));
      return;
    case DType::BF16:
      for (std::int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(load_u16(p + 2 * i));
      return;
    default: {
      const std::int64_t block = dtype_block_values(t), bytes = dtype_block_bytes(t);
      for (std::int64_t i = 0; i < n / block; ++i) dequantize_block(t, p + i * bytes, out + i * block);
    }
  }
}

void quantize_q8_grouped(const float* in, std::int8_t* q, float* scales, std::int64_t n, int group_size) {
  if (group_size <= 0 || n % group_size != 0)
    throw Error("group size " + std::to_string(group_size) + " does not divide " + std::to_string(n));
  for (std::int64_t g = 0; g < n / group_size; ++g) {
    const float* x = in + g * group_size;
    float amax = 0.0f;
    for (int i = 0; i < group_size; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = amax / 127.0f;
    scales[g] = scale;
    for (int i = 0; i < group_size; ++i)
      q[g * group_size + i] = static_cast<std::int8_t>(scale > 0.0f ? round_clamp(x[i] / scale, -127, 127) : 0);
  }
}

}  // namespace llama2::quant
