// Quantized rows and kernels: the block layouts against an independent ggml-style decoder, the
// encoders' round-trip error, and every SIMD kernel set against the scalar integer reference
// and against plain "dequantize, then fp32".
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
#include "core/thread_pool.hpp"
#include "kernels/ops.hpp"
#include "kernels/quant.hpp"
#include "kernels/quant_internal.hpp"

namespace llama2 {
namespace {

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

// Values like a weight row: mostly small, a few larger, occasionally an outlier.
std::vector<float> weights_like(std::size_t n, std::uint32_t seed, float scale = 0.05f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng) < 0.01f ? 8.0f * normal(rng) : normal(rng);
  return v;
}

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

// Random bytes for `blocks` blocks of type t, with every fp16 scale set to a finite value.
std::vector<std::uint8_t> random_blocks(DType t, int blocks, std::uint32_t seed) {
  const int bytes = static_cast<int>(dtype_block_bytes(t));
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(static_cast<std::size_t>(blocks) * bytes);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.01f, 0.01f);
  for (int i = 0; i < blocks; ++i) {
    std::uint8_t* b = v.data() + i * bytes;
    auto set = [&](int offset) { quant::detail::store_u16(b + offset, quant::f32_to_f16(scale(rng))); };
    if (t == DType::Q6_K) {
      set(208);
    } else {
      set(0);
      if (t != DType::Q8_0 && t != DType::Q4_0) set(2);
    }
  }
  return v;
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

TEST(QuantLayout, IntegerFormRebuildsTheValues) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(t));
    const int values = static_cast<int>(dtype_block_values(t));
    const auto data = random_blocks(t, 4, 12);
    for (int b = 0; b < 4; ++b) {
      const std::uint8_t* blk = data.data() + b * dtype_block_bytes(t);
      std::vector<float> want(values);
      quant::dequantize_row(t, blk, want.data(), values);
      quant::detail::IntBlock ib;
      quant::detail::decode_int_block(t, blk, ib);
      for (int i = 0; i < values; ++i) {
        const float v = ib.a[i / 32] * static_cast<float>(ib.isc[i / 16] * ib.q[i]) + ib.m[i / 32];
        ASSERT_NEAR(v, want[i], 1e-6f * (std::fabs(want[i]) + std::fabs(ib.m[i / 32])) + 1e-12f) << i;
      }
    }
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

// ---------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------

// A quantized matrix with its storage; fp32 source values kept for reference.
struct QMatrix {
  std::vector<std::uint8_t> data;
  std::vector<std::int8_t> q8;
  std::vector<float> scales;
  Tensor t;
  QMatrix() = default;
  QMatrix(const QMatrix&) = delete;
  QMatrix(QMatrix&&) = default;

  std::vector<float> row(std::int64_t r) const {
    std::vector<float> v(static_cast<std::size_t>(t.cols));
    dequantize_row(t, r, v.data());
    return v;
  }
};

// From encoded real-looking weights, or (raw_bytes) from random block bytes, which reach every
// code (Q8_0's -128, Q6_K's negative sub-scales, 6-bit scales of 63, ...).
QMatrix make_matrix(DType type, std::int64_t rows, std::int64_t cols, std::uint32_t seed, int group = 0,
                    bool raw_bytes = false) {
  QMatrix m;
  if (type == DType::Q8_GROUPED) {
    const auto src = weights_like(static_cast<std::size_t>(rows * cols), seed);
    m.q8.resize(src.size());
    m.scales.resize(src.size() / group);
    quant::quantize_q8_grouped(src.data(), m.q8.data(), m.scales.data(), rows * cols, group);
    m.t = Tensor{type, m.q8.data(), m.scales.data(), rows, cols, group};
    return m;
  }
  const std::uint64_t rb = quant::row_bytes(type, cols);
  if (raw_bytes) {
    m.data = random_blocks(type, static_cast<int>(rows * cols / dtype_block_values(type)), seed);
  } else {
    const auto src = weights_like(static_cast<std::size_t>(rows * cols), seed);
    m.data.resize(rows * rb);
    for (std::int64_t r = 0; r < rows; ++r) quant::quantize_row(type, src.data() + r * cols, m.data.data() + r * rb, cols);
  }
  m.t = Tensor{type, m.data.data(), nullptr, rows, cols, 0};
  return m;
}

std::vector<float> activations(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = normal(rng);
  x[0] = 6.0f;  // an outlier, as real activations have
  return x;
}

struct KernelCase {
  DType type;
  std::int64_t rows, cols;
  int group;
  bool raw;
};

std::vector<KernelCase> kernel_cases() {
  std::vector<KernelCase> cases;
  for (DType t : kRowTypes) {
    const bool k = dtype_block_values(t) == 256;
    for (std::int64_t rows : {1, 7, 33}) {
      cases.push_back({t, rows, k ? 512 : 288, 0, false});  // 288 = 9 blocks of 32: an odd count
      if (t != DType::F16 && t != DType::BF16) cases.push_back({t, rows, k ? 768 : 96, 0, true});
    }
    if (t == DType::F16 || t == DType::BF16) cases.push_back({t, 5, 37, 0, false});  // not a multiple of 8
  }
  cases.push_back({DType::Q8_GROUPED, 19, 1376, 32, false});  // w2 of stories42M after regrouping
  cases.push_back({DType::Q8_GROUPED, 19, 768, 64, false});
  cases.push_back({DType::Q8_GROUPED, 9, 288, 32, false});  // stories15M: 8 groups and 1 more
  cases.push_back({DType::Q8_GROUPED, 3, 448, 64, false});  // an odd number of groups
  cases.push_back({DType::Q8_GROUPED, 4, 288, 96, false});  // a group size known only at run time
  cases.push_back({DType::Q8_GROUPED, 5, 172, 4, false});  // short groups: the scalar path
  return cases;
}

// "Q4_K 7x512 group 0 raw": which case failed.
std::string label(const KernelCase& c) {
  return std::string(dtype_name(c.type)) + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols) + " group " +
         std::to_string(c.group) + (c.raw ? " raw" : "");
}

class QuantKernelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { quant::force_kernel(GetParam()); }
  void TearDown() override { quant::force_kernel(""); }
};

// Test names allow only letters, digits and '_' ("neon-dotprod" -> "neon_dotprod").
INSTANTIATE_TEST_SUITE_P(Quant, QuantKernelTest, ::testing::ValuesIn(quant::available_kernels()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

TEST_P(QuantKernelTest, MatchesScalarIntegerReference) {
  ASSERT_STREQ(quant::kernel_name(), GetParam().c_str());
  ThreadPool pool(1);
  for (const KernelCase& c : kernel_cases()) {
    SCOPED_TRACE(label(c));
    const QMatrix m = make_matrix(c.type, c.rows, c.cols, 100 + static_cast<std::uint32_t>(c.rows), c.group, c.raw);
    const auto x = activations(c.cols, 7);
    std::vector<float> fast(c.rows), ref(c.rows);
    quant::matvec(m.t, x.data(), fast.data(), pool);
    quant::reference::matvec(m.t, x.data(), ref.data(), 0, c.rows);
    for (std::int64_t r = 0; r < c.rows; ++r) {
      // Same integer sums; only the order of the fp32 additions of block results differs.
      const auto w = m.row(r);
      double abs_sum = 0;
      for (std::int64_t i = 0; i < c.cols; ++i) abs_sum += std::fabs(w[i] * x[i]);
      ASSERT_NEAR(fast[r], ref[r], 2e-6 * abs_sum + 1e-30) << "row " << r;
    }
  }
}

// A NaN or infinity among the activations gives a non-finite result in every row, as fp32
// math would, on every kernel set (the int8 path marks such a block with a NaN scale).
TEST_P(QuantKernelTest, NonFiniteActivationsGiveNonFiniteRows) {
  ThreadPool pool(2);
  for (const KernelCase& c : kernel_cases()) {
    if (c.raw) continue;
    SCOPED_TRACE(label(c));
    const QMatrix m = make_matrix(c.type, c.rows, c.cols, 300 + static_cast<std::uint32_t>(c.rows), c.group);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      auto x = activations(c.cols, 9);
      x[static_cast<std::size_t>(c.cols / 2)] = bad;
      std::vector<float> y(c.rows);
      quant::matvec(m.t, x.data(), y.data(), pool);
      for (std::int64_t r = 0; r < c.rows; ++r) ASSERT_FALSE(std::isfinite(y[r])) << "row " << r << " x " << bad;
    }
  }
}

TEST_P(QuantKernelTest, MatchesDequantizedFp32WithinActivationRounding) {
  ThreadPool pool(1);
  for (const KernelCase& c : kernel_cases()) {
    SCOPED_TRACE(label(c));
    const QMatrix m = make_matrix(c.type, c.rows, c.cols, 200 + static_cast<std::uint32_t>(c.rows), c.group, c.raw);
    const auto x = activations(c.cols, 8);
    // The step of each activation's quantization block (0 where x stays fp32).
    const int block = c.type == DType::F16 || c.type == DType::BF16 ? 0 : c.type == DType::Q8_GROUPED ? c.group : 32;
    std::vector<float> step(c.cols, 0.0f);
    for (std::int64_t b = 0; block && b < c.cols / block; ++b) {
      float amax = 0;
      for (int i = 0; i < block; ++i) amax = std::max(amax, std::fabs(x[b * block + i]));
      for (int i = 0; i < block; ++i) step[b * block + i] = amax / 127;
    }
    std::vector<float> y(c.rows);
    quant::matvec(m.t, x.data(), y.data(), pool);
    for (std::int64_t r = 0; r < c.rows; ++r) {
      const auto w = m.row(r);
      double exact = 0, abs_sum = 0, rounding = 0;
      for (std::int64_t i = 0; i < c.cols; ++i) {
        exact += static_cast<double>(w[i]) * x[i];
        abs_sum += std::fabs(w[i] * x[i]);
        rounding += 0.5 * std::fabs(w[i]) * step[i];  // |x - x_quantized| <= step / 2
      }
      ASSERT_NEAR(y[r], exact, rounding * 1.001 + 1e-5 * abs_sum + 1e-30) << "row " << r;
    }
  }
}

TEST_P(QuantKernelTest, ThreadCountAndBatchDoNotChangeBits) {
  ThreadPool one(1), two(2);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16,
                  DType::Q8_GROUPED}) {
    SCOPED_TRACE(dtype_name(t));
    // 37: chunks of 16 rows leave an odd tail. 576 = 9 groups of 64 (an odd last group), or
    // 18 blocks of 32 (eight-block steps and a tail); K-quants need a multiple of 256.
    const std::int64_t rows = 37, cols = dtype_block_values(t) == 256 ? 512 : 576;
    const QMatrix m = make_matrix(t, rows, cols, 300, 64);
    // 6 = a tile of 4 tokens and one of 2; from 8 tokens on the activations are quantized in
    // parallel.
    for (const int n_tokens : {3, 6, 9}) {
      SCOPED_TRACE(n_tokens);
      const auto x = activations(cols * n_tokens, 9);
      std::vector<float> y1(rows), y2(rows), batch(rows * n_tokens), batch2(rows * n_tokens);
      quant::matmul(m.t, x.data(), batch.data(), n_tokens, one);
      quant::matmul(m.t, x.data(), batch2.data(), n_tokens, two);
      EXPECT_EQ(batch, batch2);
      for (int tok = 0; tok < n_tokens; ++tok) {
        quant::matvec(m.t, x.data() + tok * cols, y1.data(), one);
        quant::matvec(m.t, x.data() + tok * cols, y2.data(), two);
        EXPECT_EQ(y1, y2);
        EXPECT_EQ(y1, std::vector<float>(batch.begin() + tok * rows, batch.begin() + (tok + 1) * rows));
      }
      // matvec_rows over pieces equals the whole.
      std::vector<float> pieces(rows);
      quant::matvec_rows(m.t, x.data(), pieces.data(), 0, 5);
      quant::matvec_rows(m.t, x.data(), pieces.data(), 5, rows);
      quant::matvec(m.t, x.data(), y1.data(), one);
      EXPECT_EQ(pieces, y1);
    }
  }
}

// Activations round half to even, as std::nearbyint does (the kernels' integer sums assume
// nothing else). A block with max 127 has scale 1, so the values below hit exact ties; random
// blocks then compare every value with nearbyint of the same float product, with one thread
// and in parallel (9 tokens).
TEST(QuantActivations, RoundLikeNearbyint) {
  std::vector<float> x(64, 0.0f);
  x[0] = 127.0f;
  const float ties[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 3.4999998f};
  const int want[] = {0, 2, 2, 0, -2, -2, 126, 3};
  for (int i = 0; i < 8; ++i) x[1 + i] = ties[i];
  quant::detail::ActBuffer buf;
  buf.quantize(x.data(), 64, 1, 32);
  const quant::detail::Acts a = buf.acts(0);
  ASSERT_EQ(a.d[0], 1.0f);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(a.q[1 + i], want[i]) << ties[i];

  ThreadPool pool(2);
  const int n_tokens = 9, n = 96;
  const auto xs = activations(n * n_tokens, 21);
  buf.quantize(xs.data(), n, n_tokens, 32, &pool);
  for (int t = 0; t < n_tokens; ++t) {
    const quant::detail::Acts at = buf.acts(t);
    for (int b = 0; b < n / 32; ++b) {
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xs[t * n + b * 32 + i]));
      const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
      ASSERT_EQ(at.d[b], d);
      for (int i = 0; i < 32; ++i) {
        const float product = xs[t * n + b * 32 + i] * id;
        ASSERT_EQ(at.q[b * 32 + i], static_cast<int>(std::nearbyint(product))) << t << " " << b << " " << i;
      }
    }
  }
}

// The K-order copy (what the AVX-512 K-quant kernels read) holds each 128 values as 16-value
// pieces: the first halves of blocks 0, 2, 1, 3, then their second halves, and dk the scales
// with the odd blocks' divided by 16; they exist only where K-quant rows can use them (n a
// multiple of 256).
TEST(QuantActivations, KOrderInterleavesHalfBlocksWithinEach128) {
  const int n = 512;
  const auto x = activations(n * 2, 23);
  quant::detail::ActBuffer buf;
  buf.quantize(x.data(), n, 2, 32);
  for (int t = 0; t < 2; ++t) {
    const quant::detail::Acts a = buf.acts(t);
    ASSERT_NE(a.qk, nullptr);
    const int from[4] = {0, 2, 1, 3};
    for (int i = 0; i < n; ++i) {
      // 16-value piece o of each 128: values 16 (o / 4) .. of block from[o % 4].
      const int chunk = i / 128, piece = i % 128 / 16, within = i % 16;
      ASSERT_EQ(a.qk[i], a.q[chunk * 128 + from[piece % 4] * 32 + piece / 4 * 16 + within]) << t << " " << i;
    }
    ASSERT_NE(a.dk, nullptr);
    for (int b = 0; b < n / 32; ++b) ASSERT_EQ(a.dk[b], b % 2 == 0 ? a.d[b] : a.d[b] / 16) << t << " " << b;
  }
  buf.quantize(x.data(), 96, 1, 32);
  EXPECT_EQ(buf.acts(0).qk, nullptr);
  buf.quantize(x.data(), 512, 1, 64);
  EXPECT_EQ(buf.acts(0).qk, nullptr);
}

// Blocks of tiny values, whose scale's reciprocal overflows, still quantize to -127..127
// (found by fuzz_checkpoint: the product was infinite and its conversion to int undefined).
TEST(QuantActivations, TinyBlocksQuantizeByDivision) {
  std::vector<float> x(32, 0.0f);
  x[0] = 1e-38f, x[1] = -0.5e-38f, x[2] = 2e-45f;  // d = 1e-38 / 127 is subnormal: 1/d = inf
  quant::detail::ActBuffer buf;
  buf.quantize(x.data(), 32, 1, 32);
  const quant::detail::Acts a = buf.acts(0);
  ASSERT_GT(a.d[0], 0.0f);
  ASSERT_TRUE(std::isinf(1.0f / a.d[0]));
  EXPECT_EQ(a.q[0], 127);
  EXPECT_EQ(a.q[1], static_cast<int>(std::nearbyint(-0.5e-38f / a.d[0])));
  EXPECT_EQ(a.q[2], 0);
}

// Every kernel set's activation quantizer equals quantize_block to the bit: scales, sums and
// every int8 value, for blocks of 32 and 64, on random values of many magnitudes, exact ties,
// zeros, tiny blocks (the division path) and blocks with a NaN or infinity (the NaN path).
TEST_P(QuantKernelTest, ActivationQuantizerEqualsScalarBitForBit) {
  namespace qd = quant::detail;
  const qd::KernelSet* set = nullptr;
  for (const qd::KernelSet* k : qd::simd_kernels())
    if (GetParam() == k->name) set = k;
  if (set == nullptr || set->quantize == nullptr) GTEST_SKIP() << "the scalar quantizer itself";
  std::mt19937 rng(77);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> exponent(-40, 40), pick(0, 9);
  for (int block : {32, 64}) {
    for (int n : {block, 3 * block, 2048}) {
      for (int round = 0; round < 20; ++round) {
        std::vector<float> x(n);
        for (int b = 0; b < n / block; ++b) {
          const int kind = pick(rng);
          const float scale = std::ldexp(1.0f, exponent(rng));
          for (int i = 0; i < block; ++i) {
            float& v = x[b * block + i];
            v = normal(rng) * scale;
            if (kind == 0) v = static_cast<float>(static_cast<int>(normal(rng) * 40)) + 0.5f;  // ties
            if (kind == 1) v = 0.0f;
            if (kind == 2) v = normal(rng) * 1e-39f;  // 1 / d overflows
          }
          if (kind == 0) x[b * block] = 127.0f;  // scale 1: the ties stay ties
          if (kind == 3) x[b * block + block / 2] = std::numeric_limits<float>::quiet_NaN();
          if (kind == 4) x[b * block + block - 1] = -std::numeric_limits<float>::infinity();
        }
        const std::int64_t blocks = n / block;
        std::vector<std::int8_t> q_fast(n, 99), q_ref(n, 99);
        std::vector<float> d_fast(blocks), d_ref(blocks), s_fast(blocks), s_ref(blocks);
        set->quantize(x.data(), n, block, q_fast.data(), d_fast.data(), s_fast.data());
        for (std::int64_t b = 0; b < blocks; ++b)
          qd::quantize_block(x.data() + b * block, block, q_ref.data() + b * block, d_ref[b], s_ref[b]);
        ASSERT_EQ(q_fast, q_ref) << "block " << block << " n " << n;
        for (std::int64_t b = 0; b < blocks; ++b) {
          // Bits, so that NaN equals NaN and -0 differs from +0.
          ASSERT_EQ(std::bit_cast<std::uint32_t>(d_fast[b]), std::bit_cast<std::uint32_t>(d_ref[b])) << b;
          ASSERT_EQ(std::bit_cast<std::uint32_t>(s_fast[b]), std::bit_cast<std::uint32_t>(s_ref[b])) << b;
        }
      }
    }
  }
}

TEST(QuantKernel, OpsDispatchesQuantizedTypes) {
  ThreadPool pool(2);
  const QMatrix m = make_matrix(DType::Q4_K, 20, 256, 400);
  const auto x = activations(256, 10);
  std::vector<float> a(20), b(20);
  ops::matvec(m.t, x.data(), a.data(), pool);
  quant::matvec(m.t, x.data(), b.data(), pool);
  EXPECT_EQ(a, b);
}

// Quantized matrices sharing an input (as q/k/v of a Q4_K_M file: mixed types, one of them
// with another activation block size) in one pool job: each output equals its own matvec.
TEST_P(QuantKernelTest, SharedInputMatvecEqualsSeparateOnes) {
  const QMatrix a = make_matrix(DType::Q4_K, 37, 512, 500), b = make_matrix(DType::Q6_K, 20, 512, 501);
  const QMatrix c = make_matrix(DType::Q8_GROUPED, 19, 512, 502, 64), d = make_matrix(DType::Q8_0, 5, 512, 503);
  const auto x = activations(512, 11);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> ya(37), yb(20), yc(19), yd(5), ea(37), eb(20), ec(19), ed(5);
    // Five outputs: more than one job's worth (four), the rest runs as a second job.
    std::vector<float> ye(37), ee(37);
    const ops::MatvecOutput outs[] = {{&a.t, ya.data()}, {&b.t, yb.data()}, {&c.t, yc.data()},
                                      {&d.t, yd.data()}, {&a.t, ye.data()}};
    quant::matvec_shared(outs, x.data(), pool);
    quant::matvec(a.t, x.data(), ea.data(), pool);
    quant::matvec(b.t, x.data(), eb.data(), pool);
    quant::matvec(c.t, x.data(), ec.data(), pool);
    quant::matvec(d.t, x.data(), ed.data(), pool);
    EXPECT_EQ(ya, ea) << threads;
    EXPECT_EQ(yb, eb) << threads;
    EXPECT_EQ(yc, ec) << threads;
    EXPECT_EQ(yd, ed) << threads;
    EXPECT_EQ(ye, ea) << threads;

    // The same for a batch of tokens (q/k/v of a prompt): each output equals its own matmul.
    const int n_tokens = 9;
    const auto xs = activations(512 * n_tokens, 12);
    std::vector<float> ba(37 * n_tokens), bc(19 * n_tokens), fa(ba.size()), fc(bc.size());
    const ops::MatvecOutput batch_outs[] = {{&a.t, ba.data()}, {&c.t, bc.data()}};
    quant::matmul_shared(batch_outs, xs.data(), n_tokens, pool);
    quant::matmul(a.t, xs.data(), fa.data(), n_tokens, pool);
    quant::matmul(c.t, xs.data(), fc.data(), n_tokens, pool);
    EXPECT_EQ(ba, fa) << threads;
    EXPECT_EQ(bc, fc) << threads;
  }
}

TEST(QuantKernel, RejectsMalformedTensors) {
  ThreadPool pool(1);
  std::vector<float> x(64), y(2);
  std::vector<std::int8_t> q(128);
  std::vector<float> s(4);
  EXPECT_THROW(quant::matvec(Tensor{DType::Q8_GROUPED, q.data(), s.data(), 2, 64, 48}, x.data(), y.data(), pool), Error);
  EXPECT_THROW(quant::matvec(Tensor{DType::F32, x.data(), nullptr, 1, 64, 0}, x.data(), y.data(), pool), Error);
  EXPECT_THROW(quant::force_kernel("no-such-isa"), Error);
}

}  // namespace
}  // namespace llama2
