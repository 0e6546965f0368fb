// Differential tests: every fast kernel (ops::) against its scalar twin (reference::), on odd
// sizes that exercise partial vectors and partial tiles, once per SIMD target this machine
// supports (Highway can be told to pretend the CPU has only one target), plus thread-count
// invariance of the parallel kernels.
//
// Tolerances. The fast kernels reorder fp32 sums and fuse multiply-adds. A sum of n terms
// computed in two orders differs by about eps * sqrt(n) * sum|term| (random-walk rounding);
// `sum_tolerance` allows four times that, which still fails on any missing or doubled term of
// ordinary size. Element-wise kernels are held to a few ulps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/fp32/simd_config.hpp"  // before hwy: the same target set as simd_ops.cpp
#include "hwy/highway.h"
#include "kernels/ops.hpp"
#include "kernels/fp32/reference.hpp"
#include "kernels/fp32/simd_ops.hpp"

namespace llama2 {
namespace {

std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

float sum_tolerance(std::size_t n, double abs_sum) {
  return static_cast<float>(4.0 * FLT_EPSILON * std::sqrt(static_cast<double>(n)) * abs_sum) + 1e-30f;
}

// Checks |fast[i] - ref[i]| <= tol[i] for all i, reporting the first few failures only.
::testing::AssertionResult all_near(const std::vector<float>& fast, const std::vector<float>& ref,
                                    const std::vector<float>& tol) {
  if (fast.size() != ref.size()) return ::testing::AssertionFailure() << "size mismatch";
  int failures = 0;
  auto result = ::testing::AssertionSuccess();
  for (std::size_t i = 0; i < fast.size(); ++i) {
    const bool ok = std::fabs(fast[i] - ref[i]) <= tol[i] || (std::isnan(fast[i]) && std::isnan(ref[i])) ||
                    fast[i] == ref[i];  // also equal infinities
    if (!ok && failures++ < 5) {
      if (failures == 1) result = ::testing::AssertionFailure();
      result << "\n  [" << i << "] fast " << fast[i] << " ref " << ref[i] << " tol " << tol[i];
    }
  }
  if (failures > 5) result << "\n  ... " << failures << " mismatches in all";
  return result;
}

// Element-wise tolerance: `rel` of the reference value, and at least `abs`.
std::vector<float> relative_tolerance(const std::vector<float>& ref, float rel, float abs) {
  std::vector<float> tol(ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) tol[i] = std::max(abs, rel * std::fabs(ref[i]));
  return tol;
}

// An F32 weight matrix with its storage. (Quantized types have their own kernels and tests:
// kernels/int8/int8_test.cpp.)
struct Matrix {
  std::vector<float> data;
  Tensor t;  // views `data`: moving keeps it valid, copying would not

  Matrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed)
      : data(random_floats(static_cast<std::size_t>(rows * cols), seed)),
        t{DType::F32, data.data(), nullptr, rows, cols, 0} {}
  Matrix(Matrix&&) = default;
  Matrix(const Matrix&) = delete;

  float at(std::int64_t r, std::int64_t c) const { return data[r * t.cols + c]; }
};

// Per-output tolerances for y = W x (one x of cols values).
std::vector<float> matvec_tolerance(const Matrix& m, const float* x) {
  std::vector<float> tol(static_cast<std::size_t>(m.t.rows));
  for (std::int64_t r = 0; r < m.t.rows; ++r) {
    double abs_sum = 0.0;
    for (std::int64_t c = 0; c < m.t.cols; ++c) abs_sum += std::fabs(static_cast<double>(m.at(r, c)) * x[c]);
    tol[r] = sum_tolerance(static_cast<std::size_t>(m.t.cols), abs_sum);
  }
  return tol;
}

// Runs every test of the fixture once per SIMD target the CPU supports, the target forced
// through Highway's test hook, so the portable fallback and AVX2 are tested on an AVX-512
// machine too.
class KernelDiffTest : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override {
    hwy::SetSupportedTargetsForTest(GetParam());
    ASSERT_STREQ(ops::simd_target_name(), hwy::TargetName(GetParam()));
  }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

std::string target_param_name(const ::testing::TestParamInfo<std::int64_t>& info) {
  return hwy::TargetName(info.param);
}

INSTANTIATE_TEST_SUITE_P(Kernel, KernelDiffTest, ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()),
                         target_param_name);

const std::vector<int> kSizes = {1, 3, 17, 33, 255, 1000, 1001, 4099};

TEST_P(KernelDiffTest, Dot) {
  for (int n : kSizes) {
    const auto a = random_floats(n, 1 + n), b = random_floats(n, 2 + n);
    double abs_sum = 0.0;
    for (int i = 0; i < n; ++i) abs_sum += std::fabs(static_cast<double>(a[i]) * b[i]);
    EXPECT_NEAR(ops::dot(a.data(), b.data(), n), reference::dot(a.data(), b.data(), n), sum_tolerance(n, abs_sum))
        << "n=" << n;
  }
  EXPECT_EQ(ops::dot(nullptr, nullptr, 0), 0.0f);
}

TEST_P(KernelDiffTest, Axpy) {
  for (int n : kSizes) {
    const auto x = random_floats(n, 3 + n), y0 = random_floats(n, 4 + n);
    const float a = 0.37f;
    auto fast = y0, ref = y0;
    ops::axpy(a, x.data(), fast.data(), n);
    reference::axpy(a, x.data(), ref.data(), n);
    std::vector<float> tol(n);  // a fused multiply-add skips one rounding of a*x
    for (int i = 0; i < n; ++i) tol[i] = 2 * FLT_EPSILON * (std::fabs(y0[i]) + std::fabs(a * x[i]));
    EXPECT_TRUE(all_near(fast, ref, tol)) << "n=" << n;
  }
}

TEST_P(KernelDiffTest, RmsNorm) {
  for (int n : kSizes) {
    const auto x = random_floats(n, 5 + n, -3.0f, 3.0f), w = random_floats(n, 6 + n);
    std::vector<float> fast(n), ref(n);
    ops::rmsnorm(fast.data(), x.data(), w.data(), n, 1e-5f);
    reference::rmsnorm(ref.data(), x.data(), w.data(), n, 1e-5f);
    EXPECT_TRUE(all_near(fast, ref, relative_tolerance(ref, 1e-5f, 1e-30f))) << "n=" << n;
  }
}

TEST_P(KernelDiffTest, Softmax) {
  for (int n : kSizes) {
    for (float range : {1.0f, 30.0f}) {
      auto fast = random_floats(n, 7 + n, -range, range);
      auto ref = fast;
      if (n > 3) fast[2] = ref[2] = -std::numeric_limits<float>::infinity();  // masked entry: p = 0
      ops::softmax(fast.data(), n);
      reference::softmax(ref.data(), n);
      EXPECT_TRUE(all_near(fast, ref, relative_tolerance(ref, 1e-5f, 1e-37f))) << "n=" << n << " range=" << range;
    }
  }
}

// The same index as the scalar loop, including its rules for ties (first wins), NaNs (never
// win, unless in x[0]), signed zeros and infinities.
TEST_P(KernelDiffTest, ArgMax) {
  const float kNaN = std::numeric_limits<float>::quiet_NaN(), kInf = std::numeric_limits<float>::infinity();
  for (int n : kSizes) {
    auto x = random_floats(n, 11 + n, -5.0f, 5.0f);
    EXPECT_EQ(ops::argmax(x.data(), n), reference::argmax(x.data(), n)) << "n=" << n;
    if (n < 3) continue;
    x[n / 2] = x[n - 1] = 9.0f;  // a tie: the first one
    EXPECT_EQ(ops::argmax(x.data(), n), reference::argmax(x.data(), n)) << "tie, n=" << n;
    x[1] = kNaN;  // a NaN later in the row never wins
    EXPECT_EQ(ops::argmax(x.data(), n), reference::argmax(x.data(), n)) << "NaN, n=" << n;
    x[n - 1] = kInf;
    EXPECT_EQ(ops::argmax(x.data(), n), n - 1) << "inf, n=" << n;
    x[0] = kNaN;  // ... but a NaN at 0 does, in the reference
    EXPECT_EQ(ops::argmax(x.data(), n), reference::argmax(x.data(), n)) << "NaN first, n=" << n;
  }
  const std::vector<float> zeros = {-0.0f, -1.0f, 0.0f, -0.0f};  // -0 == +0: the first zero
  EXPECT_EQ(ops::argmax(zeros.data(), 4), reference::argmax(zeros.data(), 4));
  const std::vector<float> all_neg_inf(33, -kInf);
  EXPECT_EQ(ops::argmax(all_neg_inf.data(), 33), 0);
  EXPECT_EQ(ops::argmax(zeros.data(), 0), 0);
}

TEST_P(KernelDiffTest, Swiglu) {
  for (int n : kSizes) {
    for (float range : {5.0f, 200.0f}) {  // 200: exp(-a) overflows, silu(a) -> -0
      auto fast = random_floats(n, 8 + n, -range, range);
      auto ref = fast;
      const auto h3 = random_floats(n, 9 + n);
      ops::swiglu(fast.data(), h3.data(), n);
      reference::swiglu(ref.data(), h3.data(), n);
      EXPECT_TRUE(all_near(fast, ref, relative_tolerance(ref, 1e-5f, 1e-37f))) << "n=" << n << " range=" << range;
    }
  }
}

TEST_P(KernelDiffTest, Rope) {
  struct Case { int n, head_size; };
  // Several heads; a last partial head (n not a multiple of head_size, as the reference allows);
  // heads shorter and longer than a vector; a head too long for the cos/sin table (2048).
  const std::vector<Case> cases = {{2, 2}, {6, 6}, {64, 8}, {34, 8}, {288, 48}, {256, 64}, {512, 128},
                                   {96, 96}, {4096, 2048}};
  const auto factors = random_floats(1024, 77, 1.0f, 32.0f);  // Llama 3 style frequency factors
  for (const auto& c : cases) {
    for (Position pos : {0, 1, 7, 511, 4095}) {
      for (int variant = 0; variant < 5; ++variant) {
        // plain, another base, NeoX pairs, linear scaling, frequency factors (+ NeoX)
        RopeSpec spec;
        spec.theta = variant == 1 ? 500000.0f : 10000.0f;
        spec.neox = (variant == 2 || variant == 4) && c.n % c.head_size == 0;
        spec.position_scale = variant == 3 ? 0.25f : 1.0f;
        spec.freq_factors = variant == 4 && c.head_size <= 2048 ? factors.data() : nullptr;
        auto fast = random_floats(c.n, 10 + c.n + pos);
        auto ref = fast;
        ops::rope(fast.data(), c.n, c.head_size, pos, spec);
        reference::rope(ref.data(), c.n, c.head_size, pos, spec);
        EXPECT_TRUE(all_near(fast, ref, relative_tolerance(ref, 0.0f, 4 * FLT_EPSILON)))
            << "n=" << c.n << " head_size=" << c.head_size << " pos=" << pos << " variant=" << variant;
        // Again at the same position (as k after q): the kept cos/sin table gives the same bits.
        auto again = random_floats(c.n, 10 + c.n + pos);
        ops::rope(again.data(), c.n, c.head_size, pos, spec);
        EXPECT_EQ(again, fast) << "n=" << c.n << " pos=" << pos << " variant=" << variant;
      }
    }
  }
}

TEST(Rope, NeoxRotatesPairsHalfAHeadApart) {
  // One head of 4 at a position whose angles are known: pair 0 turns by pos, pair 1 by
  // pos / sqrt(theta). NeoX pairs (v0, v2) and (v1, v3); Meta pairs (v0, v1) and (v2, v3).
  RopeSpec spec;
  spec.theta = 100.0f;
  const Position pos = 1;
  const float a0 = 1.0f, a1 = 0.1f;
  std::vector<float> neox = {1, 0, 0, 1}, meta = neox;
  spec.neox = true;
  reference::rope(neox.data(), 4, 4, pos, spec);
  EXPECT_NEAR(neox[0], std::cos(a0), 1e-6f);
  EXPECT_NEAR(neox[2], std::sin(a0), 1e-6f);
  EXPECT_NEAR(neox[1], -std::sin(a1), 1e-6f);
  EXPECT_NEAR(neox[3], std::cos(a1), 1e-6f);
  spec.neox = false;
  reference::rope(meta.data(), 4, 4, pos, spec);
  EXPECT_NEAR(meta[0], std::cos(a0), 1e-6f);
  EXPECT_NEAR(meta[1], std::sin(a0), 1e-6f);
  EXPECT_NEAR(meta[2], -std::sin(a1), 1e-6f);
  EXPECT_NEAR(meta[3], std::cos(a1), 1e-6f);
  // A frequency factor divides the frequency; a position scale multiplies the position.
  const float factors[2] = {2.0f, 1.0f};
  spec.freq_factors = factors;
  spec.position_scale = 0.5f;
  EXPECT_NEAR(reference::rope_angle(0, 4, 8, spec), 8 * 0.5f * 1.0f / 2.0f, 1e-6f);
  EXPECT_NEAR(reference::rope_angle(1, 4, 8, spec), 8 * 0.5f * 0.1f, 1e-6f);
}

TEST_P(KernelDiffTest, AttentionHead) {
  for (int head_size : {1, 6, 8, 17, 48, 64, 128}) {
    for (int n_pos : {1, 3, 4, 5, 17, 100}) {
      const std::int64_t stride = 3 * head_size + 5;  // kv rows of several heads, one of them read
      const auto q = random_floats(head_size, 11 + head_size, -2.0f, 2.0f);
      const auto k = random_floats(n_pos * stride, 12 + n_pos, -2.0f, 2.0f);
      const auto v = random_floats(n_pos * stride, 13 + n_pos);
      std::vector<float> fast_scores(n_pos), ref_scores(n_pos), fast(head_size, 7.0f), ref(head_size, 7.0f);
      ops::attention_head(q.data(), k.data() + head_size, v.data() + head_size, stride, head_size, n_pos,
                          fast_scores.data(), fast.data());
      reference::attention_head(q.data(), k.data() + head_size, v.data() + head_size, stride, head_size, n_pos,
                                ref_scores.data(), ref.data());
      // Probabilities: a score error d changes p by a factor exp(d) ~ 1 + d.
      EXPECT_TRUE(all_near(fast_scores, ref_scores, relative_tolerance(ref_scores, 2e-5f, 1e-37f)))
          << "head_size=" << head_size << " n_pos=" << n_pos;
      // out is a convex combination of values in [-1, 1].
      EXPECT_TRUE(all_near(fast, ref, std::vector<float>(head_size, 1e-5f)))
          << "head_size=" << head_size << " n_pos=" << n_pos;
    }
  }
}

struct Shape { std::int64_t rows, cols; };
const std::vector<Shape> kMatrixShapes = {{1, 1}, {3, 17}, {17, 3}, {5, 33}, {33, 255}, {255, 1001}, {100, 64},
                                          {7, 4099}};

void expect_matvec_matches(const Matrix& m, std::uint32_t seed) {
  const auto x = random_floats(m.t.cols, seed);
  std::vector<float> fast(m.t.rows), ref(m.t.rows);
  reference::matvec(m.t, x.data(), ref.data(), 0, m.t.rows);
  ThreadPool pool(2);
  ops::matvec(m.t, x.data(), fast.data(), pool);
  EXPECT_TRUE(all_near(fast, ref, matvec_tolerance(m, x.data())))
      << m.t.rows << "x" << m.t.cols;

  // A sub-range writes exactly its rows, with the values of the full product.
  if (m.t.rows >= 3) {
    std::vector<float> part(m.t.rows, -1.0f);
    const std::int64_t b = 1, e = m.t.rows - 1;
    simd::matvec_rows(m.t, x.data(), part.data(), b, e);
    EXPECT_EQ(part.front(), -1.0f);
    EXPECT_EQ(part.back(), -1.0f);
    for (std::int64_t r = b; r < e; ++r) EXPECT_EQ(part[r], fast[r]) << "row " << r;
  }
}

TEST_P(KernelDiffTest, Matvec) {
  std::uint32_t seed = 100;
  for (const auto& s : kMatrixShapes) {
    seed += 2;
    expect_matvec_matches(Matrix(s.rows, s.cols, seed), seed + 1);
  }
}

void expect_matmul_matches(const Matrix& m, int n_tokens, std::uint32_t seed) {
  const auto x = random_floats(n_tokens * m.t.cols, seed);
  std::vector<float> fast(n_tokens * m.t.rows), ref(n_tokens * m.t.rows);
  reference::matmul(m.t, x.data(), ref.data(), n_tokens);
  ThreadPool pool(2);
  ops::matmul(m.t, x.data(), fast.data(), n_tokens, pool);
  std::vector<float> tol;
  for (int t = 0; t < n_tokens; ++t) {
    const auto row_tol = matvec_tolerance(m, x.data() + t * m.t.cols);
    tol.insert(tol.end(), row_tol.begin(), row_tol.end());
  }
  EXPECT_TRUE(all_near(fast, ref, tol)) << m.t.rows << "x" << m.t.cols << " tokens=" << n_tokens;

  // A sub-range writes exactly its rows, bit-identical to the full product although its rows
  // fall into different 4-row tiles.
  if (m.t.rows >= 3) {
    std::vector<float> part(fast.size(), -1.0f);
    const std::int64_t b = 1, e = m.t.rows - 1;
    simd::matmul_rows(m.t, x.data(), part.data(), n_tokens, b, e);
    for (int t = 0; t < n_tokens; ++t) {
      for (std::int64_t r = 0; r < m.t.rows; ++r) {
        const std::size_t i = static_cast<std::size_t>(t * m.t.rows + r);
        EXPECT_EQ(part[i], r >= b && r < e ? fast[i] : -1.0f) << "token " << t << " row " << r;
      }
    }
  }
}

TEST_P(KernelDiffTest, Matmul) {
  std::uint32_t seed = 300;
  for (const auto& s : kMatrixShapes) {
    const Matrix m(s.rows, s.cols, ++seed);
    for (int n_tokens : {1, 2, 3, 4, 5, 7, 8, 17}) expect_matmul_matches(m, n_tokens, ++seed);
  }
  // Enough tokens and columns for several token blocks and column passes.
  expect_matmul_matches(Matrix(9, 2500, 7), 150, 8);
}

// Every output is computed by one thread in a fixed order, so the thread count must not
// change a single bit (this is what makes --threads reproducible).
TEST_P(KernelDiffTest, ParallelKernelsIgnoreThreadCount) {
  std::vector<Matrix> matrices;
  matrices.emplace_back(1000, 288, 1);
  matrices.emplace_back(37, 1001, 2);
  matrices.emplace_back(288, 768, 3);
  ThreadPool one(1), two(2), three(3);
  for (const auto& m : matrices) {
    const int n_tokens = 7;
    const auto x = random_floats(n_tokens * m.t.cols, 9);
    std::vector<float> y1(m.t.rows), y2(m.t.rows), y3(m.t.rows);
    ops::matvec(m.t, x.data(), y1.data(), one);
    ops::matvec(m.t, x.data(), y2.data(), two);
    ops::matvec(m.t, x.data(), y3.data(), three);
    EXPECT_EQ(y1, y2) << m.t.rows << "x" << m.t.cols;
    EXPECT_EQ(y1, y3) << m.t.rows << "x" << m.t.cols;

    std::vector<float> z1(n_tokens * m.t.rows), z2(z1.size()), z3(z1.size());
    ops::matmul(m.t, x.data(), z1.data(), n_tokens, one);
    ops::matmul(m.t, x.data(), z2.data(), n_tokens, two);
    ops::matmul(m.t, x.data(), z3.data(), n_tokens, three);
    EXPECT_EQ(z1, z2) << m.t.rows << "x" << m.t.cols;
    EXPECT_EQ(z1, z3) << m.t.rows << "x" << m.t.cols;
  }
}

// Matrices that share an input go to the pool as one job; each output must be the same bits as
// its own matvec, whatever the thread count (row ranges then cross matrix boundaries).
TEST_P(KernelDiffTest, SharedInputMatvecEqualsSeparateOnes) {
  const Matrix q(288, 288, 11), k(37, 288, 12), v(96, 288, 13);
  const auto x = random_floats(288, 14);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> yq(288), yk(37), yv(96), eq(288), ek(37), ev(96);
    const ops::MatvecOutput outs[] = {{&q.t, yq.data()}, {&k.t, yk.data()}, {&v.t, yv.data()}};
    ops::matvec_shared(outs, x.data(), pool);
    ops::matvec(q.t, x.data(), eq.data(), pool);
    ops::matvec(k.t, x.data(), ek.data(), pool);
    ops::matvec(v.t, x.data(), ev.data(), pool);
    EXPECT_EQ(yq, eq) << threads;
    EXPECT_EQ(yk, ek) << threads;
    EXPECT_EQ(yv, ev) << threads;

    // The batched form (q/k/v of a prompt): each output equals its own matmul.
    const int n_tokens = 6;
    const auto xs = random_floats(288 * n_tokens, 15);
    std::vector<float> bq(288 * n_tokens), bk(37 * n_tokens), fq(bq.size()), fk(bk.size());
    const ops::MatvecOutput batch_outs[] = {{&q.t, bq.data()}, {&k.t, bk.data()}};
    ops::matmul_shared(batch_outs, xs.data(), n_tokens, pool);
    ops::matmul(q.t, xs.data(), fq.data(), n_tokens, pool);
    ops::matmul(k.t, xs.data(), fk.data(), n_tokens, pool);
    EXPECT_EQ(bq, fq) << threads;
    EXPECT_EQ(bk, fk) << threads;
  }
}

// Without the test hook, dispatch picks the best target this build has for this CPU.
TEST(OpsDispatch, ChoosesBestSupportedTarget) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  EXPECT_STREQ(ops::simd_target_name(), hwy::TargetName(targets.front()));  // best first
}

}  // namespace
}  // namespace llama2
