// The integer kernels: each block's integer form, the activation quantizers, and every SIMD
// kernel set against the scalar integer reference and against plain "dequantize, then fp32",
// through ops' matrix products (the one thread split) and int8::Product directly.
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
#include "kernels/int8/gemm.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "kernels/int8/kernel_set.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

using testing::random_blocks;
using testing::weights_like;

const DType kRowTypes[] = {DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                           DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(QuantLayout, IntegerFormRebuildsTheValues) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(t));
    const int values = static_cast<int>(dtype_block_values(t));
    const auto data = random_blocks(t, 4, 12);
    for (int b = 0; b < 4; ++b) {
      const std::uint8_t* blk = data.data() + b * dtype_block_bytes(t);
      std::vector<float> want(values);
      quant::dequantize_row(t, blk, want.data(), values);
      int8::detail::IntBlock ib;
      int8::detail::decode_int_block(t, blk, ib);
      for (int i = 0; i < values; ++i) {
        const float v = ib.a[i / 32] * static_cast<float>(ib.isc[i / 16] * ib.q[i]) + ib.m[i / 32];
        ASSERT_NEAR(v, want[i], 1e-6f * (std::fabs(want[i]) + std::fabs(ib.m[i / 32])) + 1e-12f) << i;
      }
    }
  }
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
    // 448 = 14 blocks of 32: eight-block steps, then three pairs (896, Qwen2.5-0.5B's dim: 24 + 4).
    if (!k && t != DType::F16 && t != DType::BF16)
      for (bool raw : {false, true}) cases.push_back({t, 5, 448, 0, raw}), cases.push_back({t, 3, 896, 0, raw});
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
  void SetUp() override { int8::force_kernel(GetParam()); }
  void TearDown() override { int8::force_kernel(""); }
};

// Test names allow only letters, digits and '_' ("neon-dotprod" -> "neon_dotprod").
INSTANTIATE_TEST_SUITE_P(Quant, QuantKernelTest, ::testing::ValuesIn(int8::available_kernels()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

TEST_P(QuantKernelTest, MatchesScalarIntegerReference) {
  ASSERT_STREQ(int8::kernel_name(), GetParam().c_str());
  ThreadPool pool(1);
  for (const KernelCase& c : kernel_cases()) {
    SCOPED_TRACE(label(c));
    const QMatrix m = make_matrix(c.type, c.rows, c.cols, 100 + static_cast<std::uint32_t>(c.rows), c.group, c.raw);
    const auto x = activations(c.cols, 7);
    std::vector<float> fast(c.rows), ref(c.rows);
    ops::matvec(m.t, x.data(), fast.data(), pool);
    int8::reference::matvec(m.t, x.data(), ref.data(), 0, c.rows);
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
      ops::matvec(m.t, x.data(), y.data(), pool);
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
    ops::matvec(m.t, x.data(), y.data(), pool);
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
      ops::matmul(m.t, x.data(), batch.data(), n_tokens, one);
      ops::matmul(m.t, x.data(), batch2.data(), n_tokens, two);
      EXPECT_EQ(batch, batch2);
      for (int tok = 0; tok < n_tokens; ++tok) {
        ops::matvec(m.t, x.data() + tok * cols, y1.data(), one);
        ops::matvec(m.t, x.data() + tok * cols, y2.data(), two);
        EXPECT_EQ(y1, y2);
        // A batch through the GEMM sums in another order (gemm_test.cpp checks its bits).
        if (!int8::batch_uses_int8_gemm(m.t, n_tokens)) {
          EXPECT_EQ(y1, std::vector<float>(batch.begin() + tok * rows, batch.begin() + (tok + 1) * rows));
        }
      }
      // int8::Product's rows over pieces equal the whole (and the pool's split of them).
      std::vector<float> pieces(rows);
      int8::Product product;
      const Tensor* weights[] = {&m.t};
      product.prepare(weights, x.data(), 1, nullptr);
      product.rows(0, pieces.data(), 0, 5);
      product.rows(0, pieces.data(), 5, rows);
      ops::matvec(m.t, x.data(), y1.data(), two);
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
  int8::detail::ActBuffer buf;
  buf.quantize(x.data(), 64, 1, 32);
  const int8::detail::Acts a = buf.acts(0);
  ASSERT_EQ(a.d[0], 1.0f);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(a.q[1 + i], want[i]) << ties[i];

  ThreadPool pool(2);
  const int n_tokens = 9, n = 96;
  const auto xs = activations(n * n_tokens, 21);
  buf.quantize(xs.data(), n, n_tokens, 32, &pool);
  for (int t = 0; t < n_tokens; ++t) {
    const int8::detail::Acts at = buf.acts(t);
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
  int8::detail::ActBuffer buf;
  buf.quantize(x.data(), n, 2, 32);
  for (int t = 0; t < 2; ++t) {
    const int8::detail::Acts a = buf.acts(t);
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
  int8::detail::ActBuffer buf;
  buf.quantize(x.data(), 32, 1, 32);
  const int8::detail::Acts a = buf.acts(0);
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
  namespace qd = int8::detail;
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
  std::vector<float> a(20), b(20), ref(20);
  ops::matvec(m.t, x.data(), a.data(), pool);
  int8::Product product;
  const Tensor* weights[] = {&m.t};
  product.prepare(weights, x.data(), 1, nullptr);
  product.rows(0, b.data(), 0, 20);
  EXPECT_EQ(a, b);
  int8::reference::matvec(m.t, x.data(), ref.data(), 0, 20);
  for (int r = 0; r < 20; ++r) EXPECT_NEAR(a[r], ref[r], 1e-4f * (1.0f + std::fabs(ref[r])));
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
    ops::matvec_shared(outs, x.data(), pool);
    ops::matvec(a.t, x.data(), ea.data(), pool);
    ops::matvec(b.t, x.data(), eb.data(), pool);
    ops::matvec(c.t, x.data(), ec.data(), pool);
    ops::matvec(d.t, x.data(), ed.data(), pool);
    EXPECT_EQ(ya, ea) << threads;
    EXPECT_EQ(yb, eb) << threads;
    EXPECT_EQ(yc, ec) << threads;
    EXPECT_EQ(yd, ed) << threads;
    EXPECT_EQ(ye, ea) << threads;

    // The same for a batch of tokens (q/k/v of a prompt): each output equals its own matmul.
    const int n_tokens = 9;
    const auto xs = activations(512 * n_tokens, 12);
    // Q6_K first: the Q4_K matrix after it shares its activations but not its kernel (the
    // GEMM takes Q4_K, not Q6_K).
    std::vector<float> ba(37 * n_tokens), bb(20 * n_tokens), bc(19 * n_tokens), fa(ba.size()), fb(bb.size()),
        fc(bc.size());
    const ops::MatvecOutput batch_outs[] = {{&b.t, bb.data()}, {&a.t, ba.data()}, {&c.t, bc.data()}};
    ops::matmul_shared(batch_outs, xs.data(), n_tokens, pool);
    ops::matmul(a.t, xs.data(), fa.data(), n_tokens, pool);
    ops::matmul(b.t, xs.data(), fb.data(), n_tokens, pool);
    ops::matmul(c.t, xs.data(), fc.data(), n_tokens, pool);
    EXPECT_EQ(ba, fa) << threads;
    EXPECT_EQ(bb, fb) << threads;
    EXPECT_EQ(bc, fc) << threads;
  }
}

// ---------------------------------------------------------------------------
// The batch GEMM (gemm.hpp)
// ---------------------------------------------------------------------------

struct GemmCase {
  DType type;
  std::int64_t cols;
  int group;
};
const GemmCase kGemmCases[] = {{DType::Q8_0, 288, 0},       {DType::Q4_0, 288, 0},       {DType::Q4_1, 96, 0},
                               {DType::Q4_K, 512, 0},       {DType::Q5_K, 768, 0},       {DType::Q6_K, 512, 0},       {DType::Q8_GROUPED, 288, 32},
                               {DType::Q8_GROUPED, 448, 64}};

// Every kernel set's GEMM equals the scalar reference of its arithmetic to the bit, for odd row
// counts (a tile of 4 and a tail) and token counts (a partly empty group of 16), on encoded
// weights and on random block bytes (every nibble, scale and min code).
TEST(QuantGemm, EveryKernelSetEqualsTheReferenceBitForBit) {
  int checked = 0;
  for (const int8::detail::KernelSet* set : int8::detail::simd_kernels()) {
    for (const GemmCase& c : kGemmCases) {
      const int8::detail::GemmFn gemm = set->gemm[static_cast<int>(c.type)];
      if (gemm == nullptr) continue;
      for (const bool raw : {false, true}) {
        if (raw && c.type == DType::Q8_GROUPED) continue;
        SCOPED_TRACE(std::string(set->name) + " " + dtype_name(c.type) + (raw ? " raw" : ""));
        const std::int64_t rows = 37;
        const QMatrix m = make_matrix(c.type, rows, c.cols, 600 + checked, c.group, raw);
        ASSERT_TRUE(int8::detail::gemm_handles(m.t));
        for (const int n_tokens : {6, 17, 40}) {
          const auto x = activations(c.cols * n_tokens, 31 + n_tokens);
          int8::detail::ActBuffer acts;
          acts.quantize(x.data(), c.cols, n_tokens, int8::detail::act_block(m.t));
          std::vector<int8::detail::Acts> per_token;
          for (int t = 0; t < n_tokens; ++t) per_token.push_back(acts.acts(t));
          int8::detail::TokenPanelBuffer panel;
          panel.build(per_token.data(), n_tokens, c.cols, int8::detail::act_block(m.t));
          std::vector<float> fast(rows * n_tokens, -1.0f), ref(rows * n_tokens, -2.0f);
          gemm(m.t, panel.panel(), fast.data(), rows, 0, rows);
          int8::detail::gemm_reference(m.t, panel.panel(), ref.data(), rows, 0, rows);
          ASSERT_EQ(0, std::memcmp(fast.data(), ref.data(), fast.size() * sizeof(float))) << n_tokens << " tokens";
          // The reference is the integer algorithm of the row kernels, summed in another order.
          for (int t = 0; t < n_tokens; ++t) {
            std::vector<float> row_ref(rows);
            int8::force_kernel("scalar");
            ThreadPool one(1);
            ops::matvec(m.t, x.data() + t * c.cols, row_ref.data(), one);
            int8::force_kernel("");
            for (std::int64_t r = 0; r < rows; ++r) {
              // Another order of the same float terms: within a few ulps of the sum of their sizes.
              const auto w = m.row(r);
              double size = 0;
              for (std::int64_t k = 0; k < c.cols; ++k) size += std::fabs(w[k] * x[t * c.cols + k]);
              ASSERT_NEAR(ref[t * rows + r], row_ref[r], 1e-5 * size + 1e-7) << t << " " << r;
            }
          }
        }
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no kernel set with a GEMM on this CPU";
}

// Through ops::matmul: a token's outputs have the same bits whatever else is in the batch (its
// lane, the batch size, the thread count), once the batch is big enough for the GEMM.
TEST_P(QuantKernelTest, GemmBatchBitsDoNotDependOnTheBatch) {
  for (const GemmCase& c : kGemmCases) {
    SCOPED_TRACE(dtype_name(c.type));
    const std::int64_t rows = 37;
    const QMatrix m = make_matrix(c.type, rows, c.cols, 700, c.group);
    const auto x = activations(c.cols * 40, 41);
    std::vector<float> first;
    for (const int n_tokens : {int8::detail::kGemmMinTokens, 17, 40}) {
      for (const int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        // Token 0 of this batch is token 5 of x: a different lane in each batch size below.
        const int shift = n_tokens == 17 ? 5 : 0;
        std::vector<float> y(rows * n_tokens);
        ops::matmul(m.t, x.data() + shift * c.cols, y.data(), n_tokens, pool);
        const std::vector<float> token5(y.begin() + (5 - shift) * rows, y.begin() + (6 - shift) * rows);
        if (first.empty()) first = token5;
        EXPECT_EQ(token5, first) << n_tokens << " tokens, " << threads << " threads";
      }
    }
  }
}

TEST(QuantKernel, RejectsMalformedTensors) {
  ThreadPool pool(1);
  std::vector<float> x(64), y(2);
  std::vector<std::int8_t> q(128);
  std::vector<float> s(4);
  EXPECT_THROW(ops::matvec(Tensor{DType::Q8_GROUPED, q.data(), s.data(), 2, 64, 48}, x.data(), y.data(), pool), Error);
  EXPECT_THROW(ops::matvec(Tensor{DType::Q4_0, q.data(), nullptr, 1, 48, 0}, x.data(), y.data(), pool), Error);
  const Tensor f32{DType::F32, x.data(), nullptr, 1, 64, 0};
  const Tensor* weights[] = {&f32};
  int8::Product product;
  EXPECT_THROW(product.prepare(weights, x.data(), 1, nullptr), Error);
  EXPECT_THROW(int8::force_kernel("no-such-isa"), Error);
}

}  // namespace
}  // namespace llama2
