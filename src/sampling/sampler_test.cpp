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
  for (const SamplerSettings& s : {SamplerSettings{-0.1f, 0.9f, 0}, SamplerSettings{NAN, 0.9f, 0},
                                  SamplerSettings{INFINITY, 0.9f, 0}, SamplerSettings{1.0f, -0.01f, 0},
                                  SamplerSettings{1.0f, 1.01f, 0}, SamplerSettings{1.0f, NAN, 0}}) {
    EXPECT_THROW(validate(s), UsageError) << s.temperature << " " << s.topp;
    EXPECT_THROW(Sampler(10, s), UsageError);
  }
}

// ---- the controls beyond llama2.c ----

// Brute-force probabilities of the truncated distributions, in double.
std::vector<double> softmax_of(const std::vector<float>& l, float temperature) {
  std::vector<double> p(l.size());
  const double mx = *std::max_element(l.begin(), l.end());
  double z = 0;
  for (std::size_t i = 0; i < l.size(); ++i) z += p[i] = std::exp((l[i] - mx) / temperature);
  for (double& v : p) v /= z;
  return p;
}

// Counts of `draws` samples from fresh copies of `logits`.
std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size());
  for (int d = 0; d < draws; ++d) {
    std::vector<float> l = logits;
    counts[sampler.sample(l)]++;
  }
  return counts;
}

void expect_frequencies(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " was cut but drawn";
    } else {
      // 5 standard deviations of a binomial count, plus a little.
      const double sd = std::sqrt(draws * p[i] * (1 - p[i]));
      EXPECT_NEAR(counts[i], draws * p[i], 5 * sd + 2) << "token " << i;
    }
  }
}

TEST(Sampler, TopKDrawsFromTheKMostLikelyInProportion) {
  const int n = 40, draws = 20000;
  const auto logits = some_logits(n, 3);
  for (int k : {1, 3, 10}) {
    SamplerSettings s{0.8f, 1.0f, 11};
    s.top_k = k;
    Sampler sampler(n, s);
    // Reference: the k largest logits by sorting, softmax at the temperature over them only.
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    std::vector<float> kept(n, -INFINITY);
    for (int i = 0; i < k; ++i) kept[order[i]] = logits[order[i]];
    std::vector<double> p = softmax_of(kept, 0.8f);
    expect_frequencies(histogram(sampler, logits, draws), p, draws);
  }
}

TEST(Sampler, MinPCutsTokensBelowAFractionOfTheTop) {
  const int n = 40, draws = 20000;
  const auto logits = some_logits(n, 8);
  for (float min_p : {0.05f, 0.3f, 1.0f}) {
    for (float topp : {1.0f, 0.9f}) {
      SamplerSettings s{1.0f, topp, 5};
      s.min_p = min_p;
      Sampler sampler(n, s);
      std::vector<double> p = softmax_of(logits, 1.0f);
      const double top = *std::max_element(p.begin(), p.end());
      double z = 0;
      for (double& v : p) z += v = v < min_p * top ? 0.0 : v;
      for (double& v : p) v /= z;
      if (topp < 1.0f) {  // then the nucleus of what is left, largest first
        std::vector<int> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
        double mass = 0;
        std::size_t last = 0;
        while (last < order.size() && (mass += p[order[last]]) <= topp) ++last;
        for (std::size_t i = last + 1; i < order.size(); ++i) p[order[i]] = 0;
        z = 0;
        for (double v : p) z += v;
        for (double& v : p) v /= z;
      }
      expect_frequencies(histogram(sampler, logits, draws), p, draws);
    }
  }
}

TEST(Sampler, LogitBiasShiftsAndBans) {
  const int n = 30;
  auto logits = some_logits(n, 1);
  const TokenId best = sample_argmax(logits);
  SamplerSettings s{0.0f, 0.9f, 1};
  s.logit_bias = {{best, -100.0f}, {7, 100.0f}};
  Sampler greedy(n, s);
  std::vector<float> l = logits;
  EXPECT_EQ(greedy.sample(l), 7);
  // A ban holds while sampling too.
  s.temperature = 1.0f;
  s.logit_bias = {{best, -100.0f}};
  Sampler sampler(n, s);
  EXPECT_EQ(histogram(sampler, logits, 5000)[best], 0);
}

TEST(Sampler, PenaltiesMatchTheirDefinitionOverTheWindow) {
  const int n = 20;
  const auto logits = some_logits(n, 4);
  const std::vector<TokenId> history = {3, 5, 5, 9, 3, 3, 12, 5, 0};
  for (int last_n : {-1, 4, 64}) {
    SamplerSettings s{0.0f, 0.9f, 1};
    s.repeat_penalty = 1.3f;
    s.presence_penalty = 0.5f;
    s.frequency_penalty = 0.25f;
    s.penalty_last_n = last_n;
    Sampler sampler(n, s);
    for (TokenId t : history) sampler.accept(t);
    std::vector<float> got = logits;
    sampler.adjust(got);
    // Reference: count each token in the window, then apply the three penalties.
    const std::size_t w = last_n < 0 ? history.size() : std::min<std::size_t>(history.size(), last_n);
    std::vector<int> count(n);
    for (std::size_t i = history.size() - w; i < history.size(); ++i) count[history[i]]++;
    for (int t = 0; t < n; ++t) {
      float want = logits[t];
      if (count[t] > 0) {
        want = want > 0 ? want / 1.3f : want * 1.3f;
        want -= 0.5f + 0.25f * count[t];
      }
      EXPECT_FLOAT_EQ(got[t], want) << "token " << t << " window " << last_n;
    }
  }
  // Off by default: accept() keeps nothing and adjust() changes nothing.
  Sampler plain(n, {1.0f, 0.9f, 1});
  for (TokenId t : history) plain.accept(t);
  std::vector<float> same = logits;
  plain.adjust(same);
  EXPECT_EQ(same, logits);
}

TEST(Sampler, TokenLogprobsAreLogSoftmaxWithTheTopInOrder) {
  for (int n : {1, 7, 500}) {
    const auto logits = some_logits(n, n);
    const std::vector<double> p = softmax_of(logits, 1.0f);
    for (int top : {0, 1, 5, 20}) {
      const TokenLogprobs lp = token_logprobs(logits, n / 2, top);
      EXPECT_NEAR(lp.chosen, std::log(p[n / 2]), 1e-5);
      ASSERT_EQ(lp.top.size(), static_cast<std::size_t>(std::min(top, n)));
      for (std::size_t i = 0; i < lp.top.size(); ++i) {
        EXPECT_NEAR(lp.top[i].second, std::log(p[lp.top[i].first]), 1e-5);
        if (i > 0) {
          EXPECT_GE(lp.top[i - 1].second, lp.top[i].second);
        }
      }
      if (top > 0) {
        EXPECT_EQ(lp.top[0].first, sample_argmax(logits));
      }
    }
  }
}

TEST(Sampler, ValidateRefusesOutOfRangeControls) {
  auto with = [](auto change) {
    SamplerSettings s{1.0f, 0.9f, 1};
    change(s);
    return s;
  };
  EXPECT_NO_THROW(validate(with([](SamplerSettings& s) { s.top_k = 40; s.min_p = 0.05f; s.repeat_penalty = 1.1f; })));
  const SamplerSettings bad[] = {
      with([](SamplerSettings& s) { s.top_k = -1; }),
      with([](SamplerSettings& s) { s.min_p = -0.1f; }),
      with([](SamplerSettings& s) { s.min_p = 1.5f; }),
      with([](SamplerSettings& s) { s.repeat_penalty = 0.0f; }),
      with([](SamplerSettings& s) { s.repeat_penalty = NAN; }),
      with([](SamplerSettings& s) { s.presence_penalty = 2.5f; }),
      with([](SamplerSettings& s) { s.frequency_penalty = -3.0f; }),
      with([](SamplerSettings& s) { s.penalty_last_n = -2; }),
      with([](SamplerSettings& s) { s.logit_bias = {{10, 1.0f}}; }),
      with([](SamplerSettings& s) { s.logit_bias = {{-1, 1.0f}}; }),
      with([](SamplerSettings& s) { s.logit_bias = {{2, INFINITY}}; }),
  };
  for (const SamplerSettings& s : bad) EXPECT_THROW(Sampler(10, s), UsageError);
}

}  // namespace
}  // namespace llama2
