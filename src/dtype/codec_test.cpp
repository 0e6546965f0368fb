// The scalar codec: fp16/bf16 conversions against the compiler's own half type, the block
// layouts against an independent ggml-style decoder, and the encoders' round-trip error.
#include <gtest/gtest.h>

#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "dtype/blocks.hpp"
#include "dtype/codec.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

using testing::random_blocks;
using testing::weights_like;

// The compiler's own IEEE half type, an oracle for f32_to_f16: AArch64's __fp16, or
// _Float16 where C++ has it (GCC 13+, clang, GCC 12 on x86).
#if defined(__aarch64__)
#define LLAMA2_TEST_COMPILER_HALF 1
using CompilerHalf = __fp16;
#elif defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__clang__) || __GNUC__ >= 13)
#define LLAMA2_TEST_COMPILER_HALF 1
using CompilerHalf = _Float16;
#endif

const DType kRowTypes[] = {DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                           DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// ---------------------------------------------------------------------------
// fp16 / bf16
// ---------------------------------------------------------------------------

TEST(QuantConvert, F16RoundTripsEveryHalf) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = quant::f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(((h >> 10) & 0x1F) == 31 && (h & 0x3FF)) << h;
      EXPECT_TRUE(std::isnan(quant::f16_to_f32(quant::f32_to_f16(f))));
    } else {
      ASSERT_EQ(quant::f32_to_f16(f), h) << "half 0x" << std::hex << h;
    }
  }
}

TEST(QuantConvert, F16RoundsToNearestEven) {
  EXPECT_EQ(quant::f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(quant::f32_to_f16(65519.0f), 0x7BFF);  // below the midpoint to 65536
  EXPECT_EQ(quant::f32_to_f16(65520.0f), 0x7C00);  // the midpoint rounds to even: infinity
  EXPECT_EQ(quant::f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(quant::f32_to_f16(-1e10f), 0xFC00);
  EXPECT_EQ(quant::f32_to_f16(0x1p-24f), 0x0001);                 // smallest subnormal
  EXPECT_EQ(quant::f32_to_f16(0x1p-25f), 0x0000);                 // a tie: to even (zero)
  EXPECT_EQ(quant::f32_to_f16(0x1.8p-24f), 0x0002);               // a tie: to even (2)
  EXPECT_EQ(quant::f32_to_f16(0x1.0p-25f * 1.0001f), 0x0001);     // above the tie
  EXPECT_EQ(quant::f32_to_f16(0x1.ffcp-15f), 0x0400);             // rounds up into the normals
  EXPECT_EQ(quant::f32_to_f16(1.0f + 0x1p-11f), 0x3C00);          // tie, even stays
  EXPECT_EQ(quant::f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);      // tie, odd rounds up
#if defined(LLAMA2_TEST_COMPILER_HALF)
  // The compiler's own conversion as an oracle over random bit patterns.
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
    if (std::isnan(f)) continue;
    const CompilerHalf h = static_cast<CompilerHalf>(f);
    ASSERT_EQ(quant::f32_to_f16(f), std::bit_cast<std::uint16_t>(h)) << f;
  }
#endif
}

TEST(QuantConvert, Bf16) {
  EXPECT_EQ(quant::f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(quant::f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie to even
  EXPECT_EQ(quant::f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie to even (up)
  EXPECT_EQ(quant::f32_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);
  EXPECT_TRUE(std::isnan(quant::bf16_to_f32(quant::f32_to_bf16(std::nanf("")))));
  for (std::uint32_t h = 0; h < 65536; h += 7) {
    const float f = quant::bf16_to_f32(static_cast<std::uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(quant::f32_to_bf16(f), h);
    }
  }
}

// ---------------------------------------------------------------------------
// Layouts: an independent decoder written the way ggml's reference loops read blocks
// (pointers walking through the block), compared on random bytes.
// ---------------------------------------------------------------------------

float h2f(const std::uint8_t* p) { return quant::f16_to_f32(static_cast<std::uint16_t>(p[0] | (p[1] << 8))); }

void ggml_style_dequantize(DType t, const std::uint8_t* b, float* y) {
  switch (t) {
    case DType::Q8_0:
      for (int i = 0; i < 32; ++i) y[i] = static_cast<std::int8_t>(b[2 + i]) * h2f(b);
      return;
    case DType::Q4_0:
    case DType::Q4_1: {
      const bool one = t == DType::Q4_1;
      const float d = h2f(b), m = one ? h2f(b + 2) : 0.0f;
      const std::uint8_t* qs = b + (one ? 4 : 2);
      for (int j = 0; j < 16; ++j) {
        y[j] = ((qs[j] & 0xF) - (one ? 0 : 8)) * d + m;
        y[j + 16] = ((qs[j] >> 4) - (one ? 0 : 8)) * d + m;
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const float d = h2f(b), dmin = h2f(b + 2);
      const std::uint8_t* s = b + 4;
      const std::uint8_t* qh = b + 16;
      const std::uint8_t* q = b + (five ? 48 : 16);
      int is = 0;
      std::uint8_t u1 = 1, u2 = 2;
      for (int j = 0; j < 256; j += 64) {
        auto get = [&](int k, int& sc, int& m) {
          if (k < 4) {
            sc = s[k] & 63, m = s[k + 4] & 63;
          } else {
            sc = (s[k + 4] & 0xF) | ((s[k - 4] >> 6) << 4), m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
          }
        };
        int sc, m;
        get(is, sc, m);
        const float d1 = d * sc, m1 = dmin * m;
        get(is + 1, sc, m);
        const float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * ((q[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * ((q[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0)) - m2;
        q += 32, is += 2, u1 <<= 2, u2 <<= 2;
      }
      return;
    }
    case DType::Q6_K: {
      const float d = h2f(b + 208);
      const std::uint8_t* ql = b;
      const std::uint8_t* qh = b + 128;
      const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192);
      for (int n = 0; n < 256; n += 128) {
        for (int l = 0; l < 32; ++l) {
          const int is = l / 16;
          y[l] = d * sc[is] * (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
          y[l + 32] = d * sc[is + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
          y[l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
          y[l + 96] = d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
        y += 128, ql += 64, qh += 32, sc += 8;
      }
      return;
    }
    default:
      FAIL();
  }
}

TEST(QuantLayout, DequantizeMatchesGgmlStyleDecoder) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(t));
    const int blocks = 8, n = blocks * static_cast<int>(dtype_block_values(t));
    const auto data = random_blocks(t, blocks, 11);
    std::vector<float> got(n), want(n);
    quant::dequantize_row(t, data.data(), got.data(), n);
    for (int b = 0; b < blocks; ++b)
      ggml_style_dequantize(t, data.data() + b * dtype_block_bytes(t), want.data() + b * dtype_block_values(t));
    for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << "value " << i;
  }
}

TEST(QuantLayout, RowBytesAndBadSizes) {
  EXPECT_EQ(quant::row_bytes(DType::Q8_0, 64), 68u);
  EXPECT_EQ(quant::row_bytes(DType::Q4_K, 512), 288u);
  EXPECT_EQ(quant::row_bytes(DType::Q6_K, 256), 210u);
  EXPECT_EQ(quant::row_bytes(DType::F16, 3), 6u);
  EXPECT_THROW(quant::row_bytes(DType::Q4_0, 48), Error);
  EXPECT_THROW(quant::row_bytes(DType::Q5_K, 128), Error);
  std::vector<float> x(32);
  std::vector<std::uint8_t> out(64);
  EXPECT_THROW(quant::quantize_row(DType::F32, x.data(), out.data(), 32), Error);
  EXPECT_THROW(quant::quantize_row(DType::Q8_GROUPED, x.data(), out.data(), 32), Error);
}

// ---------------------------------------------------------------------------
// Encoders: round-trip error
// ---------------------------------------------------------------------------

// Relative RMS error bound of quantize -> dequantize on weights_like() data (1 % outliers at
// 8x, which widen their blocks' grids: the 4-bit types lose most there). Measured values are
// printed; the bounds leave about 25 % of headroom over them.
double rms_bound(DType t) {
  switch (t) {
    case DType::F16: return 3e-4;
    case DType::BF16: return 2e-3;
    case DType::Q8_0: return 0.012;
    case DType::Q6_K: return 0.035;
    case DType::Q5_K: return 0.062;
    case DType::Q4_1:
    case DType::Q4_K: return 0.13;
    case DType::Q4_0: return 0.19;  // 15 usable levels, and one side of each block clips (below)
    default: return 0.0;
  }
}

TEST(QuantRoundTrip, ErrorWithinTypeBound) {
  const std::int64_t n = 4096;
  for (DType t : kRowTypes) {
    SCOPED_TRACE(dtype_name(t));
    for (std::uint32_t seed : {1u, 2u, 3u}) {
      const auto x = weights_like(n, seed);
      std::vector<std::uint8_t> q(quant::row_bytes(t, n));
      std::vector<float> y(n);
      quant::quantize_row(t, x.data(), q.data(), n);
      quant::dequantize_row(t, q.data(), y.data(), n);
      double err2 = 0, ref2 = 0;
      for (std::int64_t i = 0; i < n; ++i) err2 += (y[i] - x[i]) * (y[i] - x[i]), ref2 += x[i] * x[i];
      EXPECT_LT(std::sqrt(err2 / ref2), rms_bound(t)) << "seed " << seed;
      if (seed == 1) std::printf("  %-5s relative RMS error %.5f\n", dtype_name(t), std::sqrt(err2 / ref2));
    }
  }
}

TEST(QuantRoundTrip, PerBlockBoundsOf32ValueTypes) {
  // Per element: at most half a step of the block's grid (plus fp16 rounding of the scale);
  // Q4_0 maps the block's largest magnitude to -8, so the other sign reaches only +7: a full
  // step there.
  const auto x = weights_like(32 * 64, 5);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    SCOPED_TRACE(dtype_name(t));
    std::vector<std::uint8_t> q(quant::row_bytes(t, 32 * 64));
    std::vector<float> y(32 * 64);
    quant::quantize_row(t, x.data(), q.data(), 32 * 64);
    quant::dequantize_row(t, q.data(), y.data(), 32 * 64);
    for (int b = 0; b < 64; ++b) {
      float mn = x[32 * b], mx = x[32 * b], amax = 0;
      for (int i = 0; i < 32; ++i)
        mn = std::min(mn, x[32 * b + i]), mx = std::max(mx, x[32 * b + i]), amax = std::max(amax, std::fabs(x[32 * b + i]));
      const float step = t == DType::Q8_0 ? amax / 127 : t == DType::Q4_0 ? amax / 8 : (mx - mn) / 15;
      const float steps = t == DType::Q4_0 ? 1.0f : 0.5f;
      for (int i = 0; i < 32; ++i)
        ASSERT_LE(std::fabs(y[32 * b + i] - x[32 * b + i]), steps * step + 4e-3f * amax) << dtype_name(t);
    }
  }
}

TEST(QuantRoundTrip, ZerosAndConstantsAreExact) {
  for (DType t : kRowTypes) {
    SCOPED_TRACE(dtype_name(t));
    std::vector<float> x(256, 0.0f), y(256, 1.0f);
    std::vector<std::uint8_t> q(quant::row_bytes(t, 256));
    quant::quantize_row(t, x.data(), q.data(), 256);
    quant::dequantize_row(t, q.data(), y.data(), 256);
    for (float v : y) ASSERT_EQ(v, 0.0f);
  }
}

// A NaN or infinity (a hostile or broken fp32 checkpoint given to `llama2 quantize`) must not
// reach a float-to-int conversion (undefined; UBSan stops the sanitizer build), and blocks
// without one must encode exactly as if the bad ones were not there.
TEST(QuantRoundTrip, NonFiniteValuesStayInTheirBlocks) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (DType t : kRowTypes) {
    SCOPED_TRACE(dtype_name(t));
    const std::int64_t n = 512, half = n / 2;  // the bad values all in the first half
    auto x = weights_like(n, 17);
    x[3] = nan, x[40] = inf, x[200] = -inf;
    const std::uint64_t rb = quant::row_bytes(t, n), half_rb = quant::row_bytes(t, half);
    std::vector<std::uint8_t> whole(rb), second(half_rb);
    quant::quantize_row(t, x.data(), whole.data(), n);
    quant::quantize_row(t, x.data() + half, second.data(), half);
    EXPECT_EQ(std::vector<std::uint8_t>(whole.begin() + static_cast<std::ptrdiff_t>(rb - half_rb), whole.end()), second);
  }
  std::vector<float> g(64, 0.5f);
  g[7] = nan;
  std::vector<std::int8_t> q(64);
  std::vector<float> scales(2);
  quant::quantize_q8_grouped(g.data(), q.data(), scales.data(), 64, 32);
  EXPECT_EQ(scales[1], 0.5f / 127.0f);
  EXPECT_EQ(q[40], 127);
}

TEST(QuantRoundTrip, Q8Grouped) {
  const auto x = weights_like(256, 9);
  std::vector<std::int8_t> q(256);
  std::vector<float> s(4);
  quant::quantize_q8_grouped(x.data(), q.data(), s.data(), 256, 64);
  for (int i = 0; i < 256; ++i) ASSERT_LE(std::fabs(q[i] * s[i / 64] - x[i]), 0.5001f * s[i / 64]);
  EXPECT_THROW(quant::quantize_q8_grouped(x.data(), q.data(), s.data(), 256, 48), Error);
}

}  // namespace
}  // namespace llama2
