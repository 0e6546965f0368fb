// Speculative decoding against plain decoding: greedy and seeded sampled output token for
// token, the draft model's rejection rule in distribution; the n-gram lookup and the sampling
// distribution on their own; bad options.
#include "generation/speculative.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.hpp"
#include "test_support.hpp"
#include "transformer/batch.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {
namespace {

std::shared_ptr<const Model> stories260k() {
  static const auto model = Model::load(testing::data_path("models/stories260K.bin"));
  return model;
}

// A model of stories260K's vocabulary that proposes poorly: most drafts are rejected.
std::shared_ptr<const Model> random_draft() {
  static const auto model =
      Model::load(testing::write_random_checkpoint_v0("spec_draft.bin", 32, 64, 2, 4, 2, 512, 512, 3));
  return model;
}

std::vector<TokenId> plain(const Model& m, const SamplerSettings& s, const std::vector<TokenId>& prompt, int steps) {
  ThreadPool pool(1);
  State state(m.config(), steps);
  Sampler sampler(m.config().vocab_size, s);
  return generate(m, state, sampler, prompt, steps, pool).tokens;
}

// Plain decoding through forward_batch, one position per pass: the logits verification sees
// (forward()'s matrix-vector kernels differ from the batched ones in the last bits, which
// moves a sampled draw now and then; the batched kernels give a position the same logits
// whatever else is in the batch).
std::vector<TokenId> plain_batched(const Model& m, const SamplerSettings& s, const std::vector<TokenId>& prompt,
                                   int steps) {
  ThreadPool pool(1);
  State state(m.config(), steps);
  BatchScratch scratch(m.config(), static_cast<int>(prompt.size()));
  Sampler sampler(m.config().vocab_size, s);
  std::vector<TokenId> tokens = prompt;
  for (TokenId t : prompt) sampler.accept(t);
  std::vector<BatchItem> items;
  for (int p = 0; p + 1 < static_cast<int>(prompt.size()); ++p) items.push_back({&state, prompt[p], p, false});
  if (!items.empty()) forward_batch(m, items, scratch, pool, nullptr);
  for (int pos = static_cast<int>(prompt.size()) - 1; pos < steps; ++pos) {
    items = {{&state, tokens.back(), pos, true}};
    forward_batch(m, items, scratch, pool, state.logits.data());
    const TokenId next = sampler.sample(state.logits);
    if (next == kBosToken) break;
    tokens.push_back(next);
    sampler.accept(next);
  }
  return tokens;
}

std::vector<TokenId> speculative(const Model& m, const SamplerSettings& s, const std::vector<TokenId>& prompt,
                                 int steps, const SpeculativeOptions& o, SpeculativeStats* stats = nullptr) {
  ThreadPool pool(1);
  State state(m.config(), steps);
  return generate_speculative(m, state, s, prompt, steps, pool, o, {}, stats).tokens;
}

const std::vector<std::vector<TokenId>> kPrompts = {{1}, {1, 300, 301}, {1, 403, 35, 87, 403, 35}};

TEST(Speculative, LookupProposesWhatFollowedTheLatestMatch) {
  const std::vector<TokenId> h = {5, 6, 7, 8, 5, 6, 9, 1, 5, 6};
  // "5 6" last occurred at index 4, followed by 9 1 5 6.
  EXPECT_EQ(detail::lookup_draft(h, 2, 3), (std::vector<TokenId>{9, 1, 5}));
  // Past the end of the history the text repeats with the period of the match (4 here).
  EXPECT_EQ(detail::lookup_draft(h, 2, 10), (std::vector<TokenId>{9, 1, 5, 6, 9, 1, 5, 6, 9, 1}));
  EXPECT_EQ(detail::lookup_draft(std::vector<TokenId>{3, 7, 7, 7}, 2, 3), (std::vector<TokenId>{7, 7, 7}));
  // A longer n-gram is preferred: "1 5 6" never occurred before, "5 6" did.
  EXPECT_EQ(detail::lookup_draft(h, 3, 1), (std::vector<TokenId>{9}));
  EXPECT_TRUE(detail::lookup_draft(std::vector<TokenId>{1, 2, 3}, 2, 4).empty());
  EXPECT_TRUE(detail::lookup_draft(std::vector<TokenId>{4}, 2, 4).empty());
}

TEST(Speculative, GreedyLookupGivesPlainGreedyTokens) {
  const auto m = stories260k();
  const SamplerSettings greedy{0.0f, 0.9f, 1};
  int accepted = 0;
  for (const auto& prompt : kPrompts)
    for (int draft_max : {1, 4, 16}) {
      SpeculativeStats stats;
      EXPECT_EQ(speculative(*m, greedy, prompt, 256, {draft_max, 3, nullptr}, &stats), plain(*m, greedy, prompt, 256))
          << "prompt of " << prompt.size() << ", draft-max " << draft_max;
      accepted += stats.accepted;
      EXPECT_LE(stats.accepted, stats.drafted);
    }
  EXPECT_GT(accepted, 100) << "the stories repeat themselves: lookup must have kept drafts";
}

TEST(Speculative, GreedyDraftModelGivesPlainGreedyTokens) {
  const auto m = stories260k();
  const SamplerSettings greedy{0.0f, 0.9f, 1};
  for (const auto& prompt : kPrompts) {
    const auto expected = plain(*m, greedy, prompt, 200);
    SpeculativeStats same, poor;
    // The model as its own draft: every draft is its argmax, so every one is kept.
    EXPECT_EQ(speculative(*m, greedy, prompt, 200, {5, 0, m.get()}, &same), expected);
    EXPECT_EQ(same.accepted, same.drafted);
    EXPECT_GT(same.drafted, 0);
    EXPECT_EQ(speculative(*m, greedy, prompt, 200, {5, 0, random_draft().get()}, &poor), expected);
    EXPECT_LT(poor.accepted, poor.drafted);
  }
}

// Sampled runs check drafts by sampling each position as plain decoding does, so a seed gives
// plain decoding's tokens whatever the controls; every sampling control is exercised.
TEST(Speculative, SeededSampledRunsGivePlainTokens) {
  const auto m = stories260k();
  SamplerSettings nucleus{1.0f, 0.9f, 0}, controlled{0.8f, 0.95f, 0};
  controlled.top_k = 40;
  controlled.min_p = 0.02f;
  controlled.repeat_penalty = 1.2f;
  controlled.frequency_penalty = 0.3f;
  controlled.logit_bias = {{403, 2.0f}, {35, -1.0f}};
  int kept_lookup = 0, kept_draft = 0, runs = 0;
  for (std::uint64_t seed = 1; seed <= 6; ++seed)
    for (const auto& prompt : kPrompts) {
      for (SamplerSettings s : {nucleus, controlled}) {
        s.seed = seed * 7919;
        const auto expected = plain_batched(*m, s, prompt, 160);
        SpeculativeStats lookup, draft;
        EXPECT_EQ(speculative(*m, s, prompt, 160, {6, 3, nullptr}, &lookup), expected)
            << "lookup, seed " << s.seed << ", top-k " << s.top_k;
        kept_lookup += lookup.accepted;
        if (s.top_k > 0) {  // a draft model drafts greedily under controls the rule does not model
          EXPECT_EQ(speculative(*m, s, prompt, 160, {4, 0, m.get()}, &draft), expected) << "draft, seed " << s.seed;
          kept_draft += draft.accepted;
        }
        ++runs;
      }
    }
  EXPECT_GT(kept_lookup, runs) << "sampled stories repeat too: lookup must keep drafts";
  EXPECT_GT(kept_draft, runs / 2) << "the model's greedy drafts of itself must often be drawn";
}

// Total variation distance between the empirical distributions of two samples of n draws,
// and what it is expected to be when both come from one distribution (estimated from the
// pooled sample): E|a_t - b_t| = sqrt(2 p_t (1 - p_t) / n) * sqrt(2 / pi) for each outcome.
struct Distance {
  double tv = 0, expected = 0;
};
Distance total_variation(const std::map<TokenId, int>& a, const std::map<TokenId, int>& b, int n) {
  std::map<TokenId, std::pair<int, int>> both;
  for (const auto& [t, k] : a) both[t].first = k;
  for (const auto& [t, k] : b) both[t].second = k;
  Distance d;
  for (const auto& [t, k] : both) {
    d.tv += std::abs(k.first - k.second) / (2.0 * n);
    const double p = (k.first + k.second) / (2.0 * n);
    d.expected += 0.5 * std::sqrt(2 * p * (1 - p) / n) * std::sqrt(2 / M_PI);
  }
  return d;
}

// splitmix64's finaliser: well-spread seeds from a counter (never 0).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return (x ^ (x >> 31)) | 1;
}

// The first three generated tokens of many seeds: each position's marginal must agree with
// plain sampling's within the noise of that many draws. (A rule that keeps every draft, or
// that draws a rejected position from p instead of the residual, fails by far.)
void expect_same_distribution(const SpeculativeOptions& o) {
  const auto m = stories260k();
  const std::vector<TokenId> prompt = {1, 403, 35, 87, 403, 35};  // repeats: lookup drafts
  const int runs = 2000, n_prompt = static_cast<int>(prompt.size());
  std::map<TokenId, int> want[3], got[3];
  for (int run = 0; run < runs; ++run) {
    // Seeds far apart: xorshift's first outputs for neighbouring small seeds are correlated.
    const SamplerSettings s{0.8f, 0.9f, mix(2 * run + 1)};
    const auto a = plain(*m, s, prompt, n_prompt + 2);
    const SamplerSettings s2{0.8f, 0.9f, mix(2 * run + 2)};
    const auto b = speculative(*m, s2, prompt, n_prompt + 2, o);
    for (int i = 0; i < 3; ++i) {
      want[i][a.size() > static_cast<std::size_t>(n_prompt + i) ? a[n_prompt + i] : -1]++;
      got[i][b.size() > static_cast<std::size_t>(n_prompt + i) ? b[n_prompt + i] : -1]++;
    }
  }
  for (int i = 0; i < 3; ++i) {
    const Distance d = total_variation(want[i], got[i], runs);
    EXPECT_LT(d.tv, 1.5 * d.expected + 0.005) << "generated token " << i << " (expected " << d.expected << ")";
  }
}

// The rejection rule alone, where a wrong rule shows: a draft distribution q far from p.
TEST(Speculative, PickOrRejectIsDistributedAsP) {
  const std::vector<float> p = {0.5f, 0.3f, 0.2f, 0.0f};
  const std::vector<float> q = {0.1f, 0.1f, 0.6f, 0.2f};
  const int draws = 200000;
  Rng rng(777);
  std::vector<int> counts(p.size());
  int kept = 0;
  for (int i = 0; i < draws; ++i) {
    TokenId d = 0;  // the draft, drawn from q
    const float r = rng.next_f32();
    float cdf = 0;
    for (d = 0; d < 3; ++d) {
      cdf += q[d];
      if (r < cdf) break;
    }
    std::vector<float> scratch = p;
    const auto pick = detail::pick_or_reject(scratch, q.data(), d, rng);
    counts[pick.token]++;
    kept += pick.accepted;
    if (pick.accepted) {
      EXPECT_EQ(pick.token, d);
    }
  }
  for (std::size_t t = 0; t < p.size(); ++t)
    EXPECT_NEAR(counts[t] / static_cast<double>(draws), p[t], 0.005) << "token " << t;
  // Kept: sum_t min(p_t, q_t) = 0.1 + 0.1 + 0.2.
  EXPECT_NEAR(kept / static_cast<double>(draws), 0.4, 0.005);
}

TEST(Speculative, SampledLookupKeepsThePlainDistribution) { expect_same_distribution({4, 2, nullptr}); }

TEST(Speculative, SampledDraftModelKeepsThePlainDistribution) {
  expect_same_distribution({4, 0, random_draft().get()});
}

TEST(Speculative, SamplingDistributionIsTheSamplers) {
  // Draws of the Sampler over many seeds follow the distribution it is said to draw from.
  const int vocab = 40, draws = 20000;
  std::vector<float> logits(vocab);
  for (int i = 0; i < vocab; ++i) logits[i] = std::sin(i * 1.7f) * 3.0f;
  for (const SamplerSettings& s : {SamplerSettings{1.0f, 0.9f, 1}, SamplerSettings{0.7f, 0.5f, 1},
                                  SamplerSettings{1.3f, 1.0f, 1}}) {
    std::vector<float> probs, scratch = logits;
    detail::sampling_distribution(scratch, s, probs);
    double total = 0;
    for (float p : probs) total += p;
    EXPECT_NEAR(total, 1.0, 1e-5);
    std::vector<int> counts(vocab);
    Sampler sampler(vocab, {s.temperature, s.topp, 12345});
    for (int i = 0; i < draws; ++i) {
      scratch = logits;
      counts[sampler.sample(scratch)]++;
    }
    double tv = 0;
    for (int t = 0; t < vocab; ++t) {
      tv += std::abs(counts[t] / static_cast<double>(draws) - probs[t]);
      if (probs[t] == 0.0f) {
        EXPECT_EQ(counts[t], 0) << "token " << t << " is outside the nucleus";
      }
    }
    EXPECT_LT(tv / 2, 0.02) << "temperature " << s.temperature << " top-p " << s.topp;
  }
  std::vector<float> probs, scratch = logits;
  detail::sampling_distribution(scratch, {0.0f, 0.9f, 1}, probs);
  EXPECT_EQ(probs[std::max_element(logits.begin(), logits.end()) - logits.begin()], 1.0f);
}

TEST(Speculative, BadOptionsAndModels) {
  const auto m = stories260k();
  const SamplerSettings s{0.0f, 0.9f, 1};
  const std::vector<TokenId> prompt = {1, 2};
  EXPECT_THROW(speculative(*m, s, prompt, 16, {4, 0, nullptr}), UsageError);      // no source
  EXPECT_THROW(speculative(*m, s, prompt, 16, {4, 2, m.get()}), UsageError);      // two sources
  EXPECT_THROW(speculative(*m, s, prompt, 16, {0, 2, nullptr}), UsageError);      // no drafts
  EXPECT_THROW(speculative(*m, s, prompt, 16, {65, 2, nullptr}), UsageError);     // too many
  EXPECT_THROW(speculative(*m, s, {}, 16, {4, 2, nullptr}), Error);               // no prompt
  EXPECT_THROW(speculative(*m, s, {1, 9999}, 16, {4, 2, nullptr}), Error);        // id outside the vocab
  const auto other_vocab = Model::load(testing::write_random_checkpoint_v0("spec_vocab.bin", 32, 64, 1, 4, 4, 300, 64));
  EXPECT_THROW(speculative(*m, s, prompt, 16, {4, 0, other_vocab.get()}), Error);
  const auto short_context = Model::load(testing::write_random_checkpoint_v0("spec_ctx.bin", 32, 64, 1, 4, 4, 512, 8));
  EXPECT_THROW(speculative(*m, s, prompt, 16, {4, 0, short_context.get()}), Error);
}

}  // namespace
}  // namespace llama2
