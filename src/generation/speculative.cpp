#include "generation/speculative.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/fp32/reference.hpp"
#include "transformer/batch.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {

void validate(const SpeculativeOptions& o) {
  if (o.max_draft < 1 || o.max_draft > 64)
    throw UsageError("--draft-max must be in 1..64, got " + std::to_string(o.max_draft));
  if (o.lookup_ngram < 0 || o.lookup_ngram > 16)
    throw UsageError("--lookup must be in 0..16, got " + std::to_string(o.lookup_ngram));
  if ((o.lookup_ngram > 0) == (o.draft != nullptr))
    throw UsageError("speculative decoding needs exactly one draft source: --lookup N or --draft MODEL");
}

void check_draft_vocabulary(const Config& draft, const Config& model) {
  if (draft.vocab_size != model.vocab_size)
    throw Error("the draft model has " + std::to_string(draft.vocab_size) + " tokens but the model " +
                std::to_string(model.vocab_size) + ": they must share one vocabulary");
}

namespace {

// A draw from unnormalised weights summing to `total` (> 0).
TokenId draw(std::span<const float> weights, float total, Rng& rng) {
  const float r = rng.next_f32() * total;
  float cdf = 0.0f;
  TokenId last_nonzero = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0f) continue;
    cdf += weights[i];
    last_nonzero = static_cast<TokenId>(i);
    if (r < cdf) return last_nonzero;
  }
  return last_nonzero;  // rounding left the total below r
}

float sum(std::span<const float> v) {
  float s = 0.0f;
  for (float x : v) s += x;
  return s;
}

}  // namespace

// ============================================================================
// The sampling arithmetic verification needs
// ============================================================================

namespace detail {

std::vector<TokenId> lookup_draft(std::span<const TokenId> history, int max_ngram, int max_tokens) {
  const auto n_hist = static_cast<std::ptrdiff_t>(history.size());
  for (std::ptrdiff_t n = std::min<std::ptrdiff_t>(max_ngram, n_hist - 1); n >= 1; --n) {
    const auto tail = history.subspan(n_hist - n);
    // The latest earlier occurrence: its continuation is the freshest guess.
    for (std::ptrdiff_t start = n_hist - n - 1; start >= 0; --start) {
      if (!std::equal(tail.begin(), tail.end(), history.begin() + start)) continue;
      // What followed it, up to the end of the history and then on as the same period again:
      // text that repeats with period P goes on repeating (a loop of one token proposes
      // max_tokens copies of it, not one).
      const std::ptrdiff_t from = start + n, period = n_hist - from;
      std::vector<TokenId> draft;
      for (std::ptrdiff_t j = 0; j < max_tokens; ++j) draft.push_back(j < period ? history[from + j] : draft[j - period]);
      return draft;
    }
  }
  return {};
}

void sampling_distribution(std::span<float> logits, const SamplerSettings& s, std::vector<float>& probs) {
  const int n = static_cast<int>(logits.size());
  probs.assign(logits.size(), 0.0f);
  if (s.temperature == 0.0f) {
    probs[sample_argmax(logits)] = 1.0f;
    return;
  }
  for (float& l : logits) l /= s.temperature;
  reference::softmax(logits.data(), n);
  if (s.topp <= 0.0f || s.topp >= 1.0f || n == 1) {
    std::copy(logits.begin(), logits.end(), probs.begin());
    return;
  }
  // The nucleus exactly as Sampler::sample_topp builds it: the same cutoff, order and prefix.
  const float cutoff = (1.0f - s.topp) / static_cast<float>(n - 1);
  std::vector<std::pair<float, TokenId>> kept;
  for (int i = 0; i < n; ++i)
    if (logits[i] >= cutoff) kept.emplace_back(logits[i], i);
  if (kept.empty()) {
    std::copy(logits.begin(), logits.end(), probs.begin());
    return;
  }
  std::sort(kept.begin(), kept.end(),
            [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  float mass = 0.0f;
  std::size_t last = kept.size() - 1;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    mass += kept[i].first;
    if (mass > s.topp) {
      last = i;
      break;
    }
  }
  for (std::size_t i = 0; i <= last; ++i) probs[kept[i].second] = kept[i].first / mass;
}

Pick pick_or_reject(std::vector<float>& p, const float* q, TokenId d, Rng& rng) {
  if (q[d] > 0.0f && rng.next_f32() < p[d] / q[d]) return {d, true};
  // The residual max(0, p - q): what p has that the draft's proposals did not cover.
  for (std::size_t t = 0; t < p.size(); ++t) p[t] = std::max(0.0f, p[t] - q[t]);
  const float total = sum(p);
  if (total <= 0.0f) return {d, true};  // p == q: every draft would have been kept
  return {draw(p, total, rng), false};
}

}  // namespace detail

namespace {

// Feeds tokens[from, to) at their positions (the history's indices) in chunks of the scratch's
// size; the last position's logits go to `logits` when `want_last_logits`.
void feed(const Model& model, State& state, std::span<const TokenId> history, Position from, Position to,
          bool want_last_logits, BatchScratch& scratch, ThreadPool& pool, float* logits) {
  std::vector<BatchItem> items;
  for (Position pos = from; pos < to;) {
    const Position end = std::min<Position>(to, pos + scratch.max_items());
    items.clear();
    for (Position p = pos; p < end; ++p) items.push_back({&state, history[p], p, want_last_logits && p + 1 == to});
    forward_batch(model, items, scratch, pool, logits);
    pos = end;
  }
}

// ============================================================================
// The draft model: its own KV cache, kept in step with the accepted tokens
// ============================================================================

class DraftModel {
 public:
  DraftModel(const Model& model, int steps, int first_chunk)
      : model_(model), state_(model.config(), steps), scratch_(model.config(), std::max(1, first_chunk)) {}

  // Up to k drafts after history[0..pos] (pos = the last token, not yet fed). Sampled drafts
  // leave their distributions in q (row j for draft j).
  std::vector<TokenId> propose(std::span<const TokenId> history, Position pos, int k, const SamplerSettings& s,
                               ThreadPool& pool, Rng& rng, std::vector<float>& q) {
    std::vector<TokenId> drafts;
    if (k == 0) return drafts;
    const int vocab = model_.config().vocab_size;
    feed(model_, state_, history, fed_, pos + 1, true, scratch_, pool, state_.logits.data());
    fed_ = pos + 1;
    q.resize(static_cast<std::size_t>(k) * vocab);
    std::vector<float> row_probs;
    for (int j = 0; j < k; ++j) {
      std::span<float> logits = state_.logits;
      TokenId d;
      if (s.temperature == 0.0f) {
        d = sample_argmax(logits);
      } else {
        detail::sampling_distribution(logits, s, row_probs);
        std::copy(row_probs.begin(), row_probs.end(), q.begin() + static_cast<std::ptrdiff_t>(j) * vocab);
        d = draw(row_probs, 1.0f, rng);
      }
      drafts.push_back(d);
      if (j + 1 < k) forward(model_, state_, d, pos + 1 + j, pool);
    }
    proposed_ = k;
    return drafts;
  }

  // After verification kept `accepted` drafts of the last proposal starting after `pos`: the
  // cache is right up to the last draft that was both fed and kept.
  void accepted(Position pos, int accepted) {
    if (proposed_ > 0) fed_ = pos + 1 + std::min(accepted, proposed_ - 1);
    proposed_ = 0;
  }

 private:
  const Model& model_;
  State state_;
  BatchScratch scratch_;
  Position fed_ = 0;  // positions of the history in the draft's cache
  int proposed_ = 0;
};

}  // namespace

// ============================================================================
// The loop: propose, verify in one pass, keep the longest agreeing prefix
// ============================================================================

GenerationResult generate_speculative(const Model& model, State& state, const SamplerSettings& settings,
                                      std::span<const TokenId> prompt, int steps, ThreadPool& pool,
                                      const SpeculativeOptions& options, const TokenCallback& on_token,
                                      SpeculativeStats* stats) {
  validate(options);
  validate(settings);
  const Config& c = model.config();
  check_generation_args(c, state, prompt, steps);
  if (options.draft) {
    const Config& dc = options.draft->config();
    check_draft_vocabulary(dc, c);
    if (dc.seq_len < steps)
      throw Error("the draft model's context (" + std::to_string(dc.seq_len) + ") is shorter than the " +
                  std::to_string(steps) + " positions asked for");
  }
  // A stop inside the prompt ends the run at it (the reference's rule); nothing to speculate.
  const std::vector<TokenId>& stops = options.stops;
  if (std::find_first_of(prompt.begin() + 1, prompt.end(), stops.begin(), stops.end()) != prompt.end()) {
    Sampler sampler(c.vocab_size, settings);
    return generate(model, state, sampler, prompt, steps, pool, on_token, stops);
  }

  using Clock = std::chrono::steady_clock;
  SpeculativeStats local_stats;
  SpeculativeStats& st = stats ? *stats : local_stats;
  st = {};
  GenerationResult result;
  std::vector<TokenId>& history = result.tokens;
  history.assign(prompt.begin(), prompt.end());
  const int n_prompt = static_cast<int>(prompt.size());
  const int vocab = c.vocab_size;
  // Two ways to check a draft. Sample-then-compare: each position is drawn exactly as plain
  // decoding draws it (the same Sampler, one draw per token, every control) and the draft is
  // kept when the draw lands on it; for a one-token proposal that is the rejection rule (keep d
  // with probability p(d), else a draw from p without d), and a seeded run gives plain
  // decoding's very tokens. The rejection rule with the draft's own distribution q keeps more
  // of a draft model's sampled drafts; it models temperature and top-p only, so it is used for
  // a draft model under those alone (drafting greedily otherwise).
  Sampler sampler(vocab, settings);
  for (TokenId t : prompt) sampler.accept(t);
  const bool greedy = settings.temperature == 0.0f;
  const bool rejection = options.draft && !greedy && !settings.penalizes() && settings.top_k == 0 &&
                         settings.min_p == 0.0f && settings.logit_bias.empty();
  const SamplerSettings draft_settings = rejection ? settings : SamplerSettings{0.0f, 0.9f, 1};
  Rng rng(settings.seed == 0 ? seed_from_clock() : settings.seed);

  // ---- the prompt but its last token (which starts the first verification pass) ----
  const int max_items = options.max_draft + 1;
  BatchScratch scratch(c, std::max(max_items, std::min(n_prompt - 1, kDefaultBatchSize)));
  std::vector<float> logits(static_cast<std::size_t>(max_items) * vocab);
  feed(model, state, history, 0, n_prompt - 1, false, scratch, pool, logits.data());
  if (on_token)
    for (int i = 1; i < n_prompt; ++i) on_token(prompt[i - 1], prompt[i]);
  std::optional<DraftModel> draft_model;
  if (options.draft) draft_model.emplace(*options.draft, steps, std::min(n_prompt, kDefaultBatchSize));

  const auto start = Clock::now();
  int generated = 0;
  std::vector<float> p, q;
  std::vector<BatchItem> items;
  Position pos = n_prompt - 1;  // where history.back() goes
  bool ended = false;
  while (!ended && pos < steps) {
    // ---- propose ----
    const int k = std::min(options.max_draft, steps - 1 - pos);
    std::vector<TokenId> drafts =
        draft_model ? draft_model->propose(history, pos, k, draft_settings, pool, rng, q)
                    : detail::lookup_draft(history, options.lookup_ngram, k);
    const int n_drafts = static_cast<int>(drafts.size());

    // ---- verify: the last token and every draft in one pass, logits for each ----
    items.clear();
    items.push_back({&state, history.back(), pos, true});
    for (int j = 0; j < n_drafts; ++j) items.push_back({&state, drafts[j], pos + 1 + j, true});
    forward_batch(model, items, scratch, pool, logits.data());
    ++st.passes;
    st.drafted += n_drafts;

    int kept = 0;
    for (int i = 0; i <= n_drafts; ++i) {
      std::span<float> row(logits.data() + static_cast<std::size_t>(i) * vocab, vocab);
      TokenId next;
      bool accept = false;
      if (!rejection) {
        next = sampler.sample(row);
        accept = i < n_drafts && next == drafts[i];
      } else {
        detail::sampling_distribution(row, settings, p);
        if (i < n_drafts) {
          const detail::Pick pick =
              detail::pick_or_reject(p, q.data() + static_cast<std::size_t>(i) * vocab, drafts[i], rng);
          next = pick.token;
          accept = pick.accepted;
        } else {
          next = draw(p, 1.0f, rng);
        }
      }
      if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
        ended = true;
        break;
      }
      if (on_token) on_token(history.back(), next);
      history.push_back(next);
      sampler.accept(next);
      ++generated;
      if (!accept) break;
      ++kept;
    }
    st.accepted += kept;
    if (draft_model) draft_model->accepted(pos, kept);
    pos += kept + 1;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (generated > 1 && seconds > 0) result.tokens_per_second = generated / seconds;
  return result;
}

}  // namespace llama2
