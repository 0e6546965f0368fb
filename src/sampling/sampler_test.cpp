// The sampler against brute-force references: argmax, the CDF pick, top-p's nucleus, the
// seed's stream, and validate()'s bounds.
#include "sampling/sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"

namespace llama2 {
namespace {

std::vector<float> some_logits(int n, int salt) {
  std::vector<float> l(n);
  for (int i = 0; i < n; ++i) l[i] = std::sin(static_cast<float>(i * 7 + salt)) * 4.0f;
  return l;
}

TEST(Sampler, ArgmaxIsTheFirstLargest) {
  for (int n : {1, 2, 15, 16, 17, 1000, 32000}) {
    const auto l = some_logits(n, n);
    EXPECT_EQ(sample_argmax(l), std::max_element(l.begin(), l.end()) - l.begin()) << n;
  }
  const std::vector<float> ties = {1.0f, 3.0f, 3.0f, -2.0f};
  EXPECT_EQ(sample_argmax(ties), 1);
}

TEST(Sampler, CdfPicksTheFirstIdWhoseCumulativeMassPassesTheCoin) {
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  EXPECT_EQ(sample_cdf(p, 0.0f), 0);
  EXPECT_EQ(sample_cdf(p, 0.0999f), 0);
  EXPECT_EQ(sample_cdf(p, 0.1001f), 1);
  EXPECT_EQ(sample_cdf(p, 0.59f), 2);
  EXPECT_EQ(sample_cdf(p, 0.61f), 3);
  EXPECT_EQ(sample_cdf(p, 0.99999f), 3);
  EXPECT_EQ(sample_cdf(std::vector<float>{0.2f, 0.2f}, 0.9f), 1);  // mass short of the coin: the last id
}

// Top-p's draw, brute force: sort by probability, keep the shortest prefix whose mass passes
// topp, pick with coin * mass. The same ids, for many coins and distributions.
TEST(Sampler, TopPDrawsFromTheNucleus) {
  const int n = 50;
  for (float topp : {0.3f, 0.9f, 0.99f}) {
    for (std::uint64_t seed : {1ull, 2ull, 99ull}) {
      const auto logits = some_logits(n, static_cast<int>(seed));
      Sampler sampler(n, {1.0f, topp, seed});
      Rng coins(seed);  // the sampler's own stream: one coin per sample
      for (int draw = 0; draw < 200; ++draw) {
        std::vector<float> l = logits;
        const TokenId got = sampler.sample(l);
        // Reference: softmax, sort, nucleus, cdf within it.
        std::vector<double> p(n);
        const float mx = *std::max_element(logits.begin(), logits.end());
        double z = 0;
        for (int i = 0; i < n; ++i) z += p[i] = std::exp(static_cast<double>(logits[i] - mx));
        for (double& v : p) v /= z;
        std::vector<int> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
        double mass = 0;
        std::size_t last = order.size() - 1;
        for (std::size_t i = 0; i < order.size(); ++i) {
          mass += p[order[i]];
          if (mass > topp) {
            last = i;
            break;
          }
        }
        const double r = coins.next_f32() * mass;
        double cdf = 0;
        TokenId want = order[last];
        for (std::size_t i = 0; i <= last; ++i) {
          cdf += p[order[i]];
          if (r < cdf) {
            want = order[i];
            break;
          }
        }
        EXPECT_EQ(got, want) << "top-p " << topp << " seed " << seed << " draw " << draw;
      }
    }
  }
}

TEST(Sampler, SameSeedSameStreamAndGreedyDrawsNothing) {
  const auto logits = some_logits(300, 5);
  auto run = [&](SamplerSettings s, int skip) {
    Sampler sampler(300, s);
    sampler.skip_draws(skip);
    std::vector<TokenId> out;
    for (int i = 0; i < 50; ++i) {
      std::vector<float> l = logits;
      out.push_back(sampler.sample(l));
    }
    return out;
  };
  EXPECT_EQ(run({1.0f, 0.9f, 42}, 0), run({1.0f, 0.9f, 42}, 0));
  EXPECT_NE(run({1.0f, 0.9f, 42}, 0), run({1.0f, 0.9f, 43}, 0));
  // skip_draws(n) is n samples' worth of the stream: skipping 3 then sampling is the tail of
  // sampling 3 more first.
  const auto full = run({1.0f, 0.0f, 7}, 0), skipped = run({1.0f, 0.0f, 7}, 3);
  EXPECT_EQ(std::vector<TokenId>(full.begin() + 3, full.end()), std::vector<TokenId>(skipped.begin(), skipped.end() - 3));
  // Greedy consumes no randomness: the seed changes nothing.
  EXPECT_EQ(run({0.0f, 0.9f, 1}, 0), run({0.0f, 0.9f, 2}, 5));
}

TEST(Sampler, ValidateRefusesOutOfRangeSettings) {
  EXPECT_NO_THROW(validate(SamplerSettings{0.0f, 0.0f, 0}));
  EXPECT_NO_THROW(validate(SamplerSettings{2.5f, 1.0f, 0}));
  for (const SamplerSettings s : {SamplerSettings{-0.1f, 0.9f, 0}, SamplerSettings{NAN, 0.9f, 0},
                                  SamplerSettings{INFINITY, 0.9f, 0}, SamplerSettings{1.0f, -0.01f, 0},
                                  SamplerSettings{1.0f, 1.01f, 0}, SamplerSettings{1.0f, NAN, 0}}) {
    EXPECT_THROW(validate(s), UsageError) << s.temperature << " " << s.topp;
    EXPECT_THROW(Sampler(10, s), UsageError);
  }
}

}  // namespace
}  // namespace llama2
