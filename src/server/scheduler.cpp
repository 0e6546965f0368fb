#include "server/scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "generation/speculative.hpp"
#include "server/openai.hpp"
#include "server/text_stream.hpp"
#include "transformer/batch.hpp"
#include "transformer/state.hpp"

namespace llama2::server {

using Clock = std::chrono::steady_clock;

namespace {
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Failed: return "failed";
  }
  return "failed";
}

// ---- RequestChannel ----

RequestChannel::Update RequestChannel::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout,
               [&] { return !pending_.empty() || !pending_logprobs_.empty() || finished_.has_value(); });
  Update u;
  u.text.swap(pending_);
  u.logprobs.swap(pending_logprobs_);
  u.finished = finished_;
  return u;
}

GenerationStats RequestChannel::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::string RequestChannel::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

void RequestChannel::push(std::string_view text, std::optional<TokenLogprob> logprob) {
  if (text.empty() && !logprob) return;
  {
    std::lock_guard lock(mutex_);
    pending_ += text;
    if (logprob) pending_logprobs_.push_back(std::move(*logprob));
  }
  cv_.notify_all();
}

void RequestChannel::finish(FinishReason reason, const GenerationStats& stats, std::string error) {
  {
    std::lock_guard lock(mutex_);
    finished_ = reason;
    stats_ = stats;
    error_ = std::move(error);
  }
  cv_.notify_all();
}

// ---- the scheduler's state ----

struct Scheduler::Job {
  GenerationParams params;
  std::shared_ptr<RequestChannel> channel;
  Clock::time_point submitted;
  // n > 1 choices: the first job holds the group's size and is admitted with the others,
  // which follow it in the queue (their group is 0).
  int group = 1;
};

struct Scheduler::Slot {
  Slot(const Config& config, int context) : state(config, context) {}
  State state;  // this slot's KV cache
  std::unique_ptr<Job> job;  // null: the slot is free
  std::optional<Sampler> sampler;
  std::optional<TokenConstraint> constraint;  // the request's grammar, when it has one
  std::optional<TextStream> text;
  std::uint64_t admitted = 0;  // admission order: earlier prompts are fed first
  Position pos = 0;            // positions filled in the cache
  // The token at each filled position (size() == pos): what the prompt cache matches against
  // once the sequence has ended. Kept while the slot is free.
  std::vector<TokenId> cached;
  int reused = 0;              // prompt tokens the current job took from `cached`
  int last_prompt = 0;         // prompt length of the slot's last job
  TokenId last = 0;            // the token to feed next (decoding), or the last prompt token
  int generated = 0;
  std::vector<TokenId> drafts;  // speculative decoding: this pass's drafts after `last`
  int drafted = 0, accepted = 0;
  // With a draft model: its KV cache of this slot's tokens, and the token at each position.
  std::optional<State> draft_state;
  std::vector<TokenId> draft_cached;
  // n > 1 choices: a follower waits (fed nothing) for its leader's prompt, whose keys, values
  // and last logits it then copies; the leader knows its waiting followers.
  Slot* leader = nullptr;
  std::vector<Slot*> followers;
  std::vector<float> logprob_row;           // the logits logprobs are read from (when requested)
  std::optional<TokenLogprobs> logprobs;    // of the token just sampled
  Clock::time_point started, first_token;

  bool prefilling() const { return !leader && pos < static_cast<Position>(job->params.prompt.size()); }
  bool decoding() const { return !leader && !prefilling(); }
};

struct Scheduler::Compute {
  Compute(const Config& config, int threads, int max_items)
      : pool(threads), scratch(config, max_items) {}
  ThreadPool pool;
  BatchScratch scratch;
  std::vector<BatchItem> items;
  std::vector<Slot*> rows;  // rows[i]: the slot whose logits are row i of `logits`
  std::vector<float> logits;
};

Scheduler::Scheduler(std::shared_ptr<const Model> model, const Tokenizer& tokenizer, SchedulerOptions options,
                     Metrics* metrics)
    : model_(std::move(model)), tokenizer_(tokenizer), options_(options), metrics_(metrics) {
  const Config& c = model_->config();
  if (options_.parallel < 1) throw UsageError("--parallel must be at least 1");
  if (options_.queue < 0) throw UsageError("--queue must be >= 0");
  if (options_.lookup_ngram < 0 || options_.lookup_ngram > 16) throw UsageError("--lookup must be in 1..16");
  if (options_.lookup_ngram > 0 && options_.draft)
    throw UsageError("--lookup and --draft are two draft sources: give one");
  if (options_.draft_max < 1 || options_.draft_max > 64) throw UsageError("--draft-max must be in 1..64");
  if (options_.context < 0 || options_.context > c.seq_len)
    throw UsageError("--ctx must be in 1.." + std::to_string(c.seq_len) + " (the model's context)");
  if (tokenizer.vocab_size() != c.vocab_size)
    throw Error("the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens but the model " +
                std::to_string(c.vocab_size));
  context_ = options_.context == 0 ? c.seq_len : options_.context;
  token_trie_ = std::make_shared<const TokenTrie>(TokenTrie::token_bytes(tokenizer));
  options_.max_batch_tokens = std::max(options_.max_batch_tokens, options_.parallel);
  if (options_.draft) drafter_.emplace(options_.draft, c, options_.parallel, options_.max_batch_tokens + 1);
  for (int i = 0; i < options_.parallel; ++i) {
    slots_.push_back(std::make_unique<Slot>(c, context_));
    if (drafter_) slots_.back()->draft_state.emplace(drafter_->make_state(context_));
  }
  compute_ = std::make_unique<Compute>(c, std::max(1, options_.threads), options_.max_batch_tokens + 1);
  // A logits row per slot, and one per draft when drafts ride along.
  const std::size_t rows_per_slot = speculative() ? 1 + static_cast<std::size_t>(options_.draft_max) : 1;
  compute_->logits.resize(static_cast<std::size_t>(options_.parallel) * rows_per_slot * c.vocab_size);
  seeds_.seed(std::random_device{}());
  if (metrics_) metrics_->set_slots(options_.parallel);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestChannel> Scheduler::submit(GenerationParams params) {
  return submit(std::move(params), 1).front();
}

std::vector<std::shared_ptr<RequestChannel>> Scheduler::submit(GenerationParams params, int n) {
  const int n_prompt = static_cast<int>(params.prompt.size());
  if (n_prompt == 0) throw ApiError(400, "the prompt has no tokens", "prompt");
  if (n < 1 || n > parallel())
    throw ApiError(400, "'n': " + std::to_string(n) + " choices need as many slots; this server has --parallel " +
                            std::to_string(parallel()), "n");
  if (params.max_tokens < 1 || n_prompt + static_cast<std::int64_t>(params.max_tokens) > context_)
    throw ApiError(400, "the prompt and max_tokens do not fit in the context of " + std::to_string(context_),
                   "max_tokens", "context_length_exceeded");
  for (TokenId t : params.prompt)
    if (t < 0 || t >= model_->config().vocab_size)
      throw ApiError(400, "prompt token id " + std::to_string(t) + " is outside the vocabulary", "prompt");
  try {
    validate(params.sampling, model_->config().vocab_size);
  } catch (const UsageError& e) {
    throw ApiError(400, e.what(), params.sampling.logit_bias.empty() ? "" : "logit_bias");
  }

  std::vector<std::unique_ptr<Job>> jobs;
  std::vector<std::shared_ptr<RequestChannel>> channels;
  {
    std::lock_guard lock(mutex_);
    if (draining_ || stop_) throw ApiError(503, "the server is shutting down", {}, "shutting_down", "server_error");
    if (params.sampling.seed == 0) params.sampling.seed = seeds_() | 1;  // Sampler reads 0 as "the clock"
    // Requests whose clients left while queued do not count against the limit.
    std::erase_if(queue_, [](const std::unique_ptr<Job>& j) { return j->channel->cancelled(); });
    // A free slot takes the request at once, so only waiting requests count against --queue.
    const int free_slots = parallel() - active_;
    if (static_cast<int>(queue_.size()) + n - 1 - free_slots >= options_.queue)
      throw ApiError(503, "the server is busy: " + std::to_string(options_.queue) + " requests are already waiting",
                     {}, "queue_full", "server_error");
    const auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto job = std::make_unique<Job>();
      job->channel = std::make_shared<RequestChannel>();
      job->submitted = now;
      job->group = i == 0 ? n : 0;
      job->params = params;
      job->params.sampling.seed = params.sampling.seed + static_cast<std::uint64_t>(i);
      if (job->params.sampling.seed == 0) job->params.sampling.seed = 1;
      channels.push_back(job->channel);
      queue_.push_back(std::move(job));
    }
    if (metrics_) metrics_->set_queue_depth(static_cast<int>(queue_.size()));
  }
  wake_.notify_one();
  return channels;
}

void Scheduler::drain() {
  std::deque<std::unique_ptr<Job>> dropped;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    dropped.swap(queue_);
    if (metrics_) metrics_->set_queue_depth(0);
  }
  for (auto& job : dropped) fail_job(*job, FinishReason::Cancelled, "the server is shutting down");
  idle_.notify_all();
}

bool Scheduler::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return queue_.empty() && active_ == 0; });
}

void Scheduler::cancel_all() {
  drain();
  {
    std::lock_guard lock(mutex_);
    cancel_running_ = true;
  }
  wake_.notify_all();
}

void Scheduler::fail_job(Job& job, FinishReason reason, std::string error) {
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int>(job.params.prompt.size());
  job.channel->finish(reason, stats, std::move(error));
}

// ---- the scheduler thread ----

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || cancel_running_ || !queue_.empty() || active_ > 0; });
      if (stop_) break;
      admit_locked();
    }
    // Slots whose clients left (or everything, when shutting down) are freed before the pass.
    bool cancel_running;
    {
      std::lock_guard lock(mutex_);
      cancel_running = cancel_running_;
    }
    for (auto& slot : slots_)
      if (slot->job && (cancel_running || slot->job->channel->cancelled()))
        finish(*slot, FinishReason::Cancelled, cancel_running ? "the server is shutting down" : "");
    if (cancel_running) {
      std::lock_guard lock(mutex_);
      cancel_running_ = false;
      continue;
    }
    step();
  }
  for (auto& slot : slots_)
    if (slot->job) finish(*slot, FinishReason::Cancelled, "the server is shutting down");
  std::lock_guard lock(mutex_);
  for (auto& job : queue_) fail_job(*job, FinishReason::Cancelled, "the server is shutting down");
  queue_.clear();
}

namespace {
// How many leading tokens of `prompt` a slot holding `cached` can skip. At least the last
// prompt token is always fed again: its logits give the first token of the reply.
int reusable_prefix(const std::vector<TokenId>& cached, const std::vector<TokenId>& prompt) {
  const std::size_t limit = std::min(cached.size(), prompt.size() - 1);
  std::size_t n = 0;
  while (n < limit && cached[n] == prompt[n]) ++n;
  return static_cast<int>(n);
}
}  // namespace

void Scheduler::admit_locked() {
  for (;;) {
    while (!queue_.empty() && queue_.front()->channel->cancelled()) {
      fail_job(*queue_.front(), FinishReason::Cancelled, {});
      queue_.pop_front();
    }
    if (queue_.empty()) break;
    // A request of n choices waits until n slots are free, then takes them all at once.
    const int group = queue_.front()->group;
    if (parallel() - active_ < group) break;
    // The free slot with the longest reusable prefix, if that covers at least half of the
    // prompt it last served (the next turn of its conversation); otherwise the least recently
    // used slot, so a prompt sharing only the BOS does not evict another chat's cache.
    const auto& prompt = queue_.front()->params.prompt;
    Slot* best = nullptr;
    Slot* oldest = nullptr;
    int best_reuse = 0;
    for (auto& slot : slots_) {
      if (slot->job) continue;
      if (!oldest || slot->admitted < oldest->admitted) oldest = slot.get();
      const int reuse = options_.prompt_cache ? reusable_prefix(slot->cached, prompt) : 0;
      if (reuse > best_reuse && 2 * reuse >= slot->last_prompt) {
        best = slot.get();
        best_reuse = reuse;
      }
    }
    if (!oldest) break;
    if (!best) {
      best = oldest;
      best_reuse = options_.prompt_cache ? reusable_prefix(best->cached, prompt) : 0;
    }
    std::unique_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    take_slot(*best, std::move(job), best_reuse);
    // Its other choices: the least recently used free slots, waiting for its prompt.
    for (int i = 1; i < group; ++i) {
      Slot* slot = nullptr;
      for (auto& s : slots_)
        if (!s->job && (!slot || s->admitted < slot->admitted)) slot = s.get();
      std::unique_ptr<Job> follower = std::move(queue_.front());
      queue_.pop_front();
      take_slot(*slot, std::move(follower), 0);
      slot->leader = best;
      best->followers.push_back(slot);
    }
  }
  if (metrics_) {
    metrics_->set_queue_depth(static_cast<int>(queue_.size()));
    metrics_->set_active_slots(active_);
  }
}

void Scheduler::take_slot(Slot& slot, std::unique_ptr<Job> job, int reused) {
  slot.job = std::move(job);
  const GenerationParams& p = slot.job->params;
  slot.sampler.emplace(model_->config().vocab_size, p.sampling);
  if (p.sampling.penalizes())
    for (TokenId t : p.prompt) slot.sampler->accept(t);  // the penalties look back on the prompt too
  slot.constraint.reset();
  if (p.grammar) slot.constraint.emplace(token_trie_, p.grammar, p.stop_tokens);
  slot.text.emplace(p.stop);
  slot.admitted = admissions_++;
  // Rows past the reused prefix hold the old sequence's keys and values; attention at a
  // position reads only the rows before it, which are all rewritten before they are read.
  slot.cached.resize(static_cast<std::size_t>(reused));
  slot.pos = reused;
  slot.reused = reused;
  slot.last_prompt = static_cast<int>(p.prompt.size());
  slot.generated = 0;
  slot.drafted = slot.accepted = 0;
  slot.logprobs.reset();
  slot.started = Clock::now();
  ++active_;
}

void Scheduler::step() {
  Compute& c = *compute_;
  c.items.clear();
  c.rows.clear();
  // Decoding slots first, one token each (and its drafts): their latency is what streaming
  // clients see.
  std::vector<Slot*> decoders;
  for (auto& slot : slots_)
    if (slot->job && slot->decoding()) decoders.push_back(slot.get());
  const int decoding = static_cast<int>(decoders.size());
  // Drafts share the pass's token budget evenly, after every decoding slot's own token; while a
  // prompt waits to be fed, half of the budget stays free for it (drafts never starve it).
  const bool prompts_waiting = std::any_of(slots_.begin(), slots_.end(),
                                           [](const auto& s) { return s->job && s->prefilling(); });
  const int draft_room = options_.max_batch_tokens - decoding - (prompts_waiting ? options_.max_batch_tokens / 2 : 0);
  const int draft_budget = decoding > 0 ? std::clamp(draft_room / decoding, 0, options_.draft_max) : 0;
  // Each slot's drafts: at most what the reply and the context still allow after this pass's
  // own token. The history is the cached tokens and `last` (appended, not copied).
  std::vector<DraftRequest> draft_requests;
  for (Slot* slot : decoders) {
    slot->drafts.clear();
    const GenerationParams& p = slot->job->params;
    if (!speculative() || draft_budget <= 0) continue;
    const int room = std::min({draft_budget, p.max_tokens - slot->generated - 1, context_ - slot->pos - 1});
    if (room <= 0) continue;
    slot->cached.push_back(slot->last);
    if (drafter_)
      draft_requests.push_back({&*slot->draft_state, &slot->draft_cached, slot->cached, room, &slot->drafts});
    else
      slot->drafts = detail::lookup_draft(slot->cached, options_.lookup_ngram, room);
  }
  if (!draft_requests.empty()) {
    try {
      drafter_->propose(draft_requests, c.pool);
    } catch (const std::exception& e) {  // the pass goes on without drafts
      std::fprintf(stderr, "scheduler: draft pass failed: %s\n", e.what());
      for (Slot* slot : decoders) {
        slot->drafts.clear();
        slot->draft_cached.clear();
      }
    }
  }
  for (Slot* slot : decoders) {
    if (slot->cached.size() > static_cast<std::size_t>(slot->pos)) slot->cached.pop_back();  // `last`, appended above
    c.items.push_back({&slot->state, slot->last, slot->pos, true});
    c.rows.push_back(slot);
    for (std::size_t j = 0; j < slot->drafts.size(); ++j) {
      c.items.push_back({&slot->state, slot->drafts[j], slot->pos + 1 + static_cast<Position>(j), true});
      c.rows.push_back(slot);
    }
  }
  int sequences = decoding;
  // Then prompts, oldest admission first, in chunks that fill the rest of the pass.
  std::vector<Slot*> prefill;
  for (auto& slot : slots_)
    if (slot->job && slot->prefilling()) prefill.push_back(slot.get());
  std::sort(prefill.begin(), prefill.end(), [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
  std::vector<std::pair<Slot*, int>> fed;  // prompt tokens each prefilling slot gets this pass
  for (Slot* slot : prefill) {
    const auto& prompt = slot->job->params.prompt;
    const int room = options_.max_batch_tokens - static_cast<int>(c.items.size());
    const int n = std::min(room, static_cast<int>(prompt.size()) - slot->pos);
    if (n <= 0) break;
    for (int j = 0; j < n; ++j) {
      const Position pos = slot->pos + j;
      const bool last = pos + 1 == static_cast<Position>(prompt.size());
      c.items.push_back({&slot->state, prompt[pos], pos, last});
      if (last) c.rows.push_back(slot);
    }
    fed.emplace_back(slot, n);
    ++sequences;
  }
  if (c.items.empty()) return;
  const int tokens = static_cast<int>(c.items.size());
  // A sequence's arithmetic in forward_batch does not depend on the other items (nor on their
  // number), so a greedy reply is the same whatever else the server is running.

  try {
    forward_batch(*model_, c.items, c.scratch, c.pool, c.logits.data());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scheduler: forward pass failed: %s\n", e.what());
    for (auto& slot : slots_)
      if (slot->job) finish(*slot, FinishReason::Failed, std::string("internal error: ") + e.what());
    return;
  }
  if (metrics_) metrics_->observe_step(sequences, tokens);

  // Rows are in item order, which is the order of c.rows: each decoding slot's own row, then
  // one per draft; then the prefilled prompts' last rows.
  const int vocab = model_->config().vocab_size;
  auto logits_row = [&](std::size_t r) { return std::span<float>(c.logits.data() + r * vocab, vocab); };
  std::size_t r = 0;
  for (Slot* slot : decoders) {
    const std::size_t n_drafts = slot->drafts.size();
    slot->cached.push_back(slot->last);  // the token fed at slot->pos
    ++slot->pos;
    slot->drafted += static_cast<int>(n_drafts);
    // Picked in order as plain decoding would; a pick equal to its draft means the draft, fed
    // at the next position, is the right token there, so the next row is valid too.
    for (std::size_t j = 0; j <= n_drafts; ++j) {
      const TokenId token = sample_next(*slot, logits_row(r + j));
      accept_token(*slot, token);
      if (!slot->job || j == n_drafts || token != slot->drafts[j]) break;
      ++slot->accepted;
      slot->cached.push_back(token);
      ++slot->pos;
    }
    r += 1 + n_drafts;
  }
  for (auto& [slot, n] : fed) {
    const auto& prompt = slot->job->params.prompt;
    slot->cached.insert(slot->cached.end(), prompt.begin() + slot->pos, prompt.begin() + slot->pos + n);
    slot->pos += n;
  }
  for (; r < c.rows.size(); ++r) {
    Slot& slot = *c.rows[r];
    slot.last = slot.job->params.prompt.back();
    if (!slot.followers.empty()) start_followers(slot, logits_row(r));
    accept_token(slot, sample_next(slot, logits_row(r)));
  }
}

// The prompt of a request of n choices is fed: each other choice copies the leader's keys
// and values and samples its first token from the same logits (its own copy: sampling
// consumes them), then decodes on its own.
void Scheduler::start_followers(Slot& leader, std::span<const float> logits) {
  std::vector<float> row;
  for (Slot* f : leader.followers) {
    f->leader = nullptr;
    f->state.copy_prefix_from(leader.state, leader.pos);
    f->pos = leader.pos;
    f->cached = leader.cached;
    f->last = leader.last;
    row.assign(logits.begin(), logits.end());
    accept_token(*f, sample_next(*f, row));
  }
  leader.followers.clear();
}

// The one place where a slot's logits row becomes its next token: bias and penalties, then
// the grammar's mask (the tokens allowed next), then logprobs read, then the draw.
TokenId Scheduler::sample_next(Slot& slot, std::span<float> logits) {
  slot.sampler->adjust(logits);
  // A live constraint always leaves a token (the acceptor has no dead ends); should the model's
  // vocabulary lack every byte the grammar needs, the reply ends rather than breaking it.
  if (slot.constraint && slot.constraint->apply(logits) == 0) return slot.job->params.stop_tokens.front();
  const int top_logprobs = slot.job->params.top_logprobs;
  if (top_logprobs >= 0) slot.logprob_row.assign(logits.begin(), logits.end());
  const TokenId token = slot.sampler->pick(logits);
  if (slot.constraint) slot.constraint->accept(token);
  if (top_logprobs >= 0) slot.logprobs = token_logprobs(slot.logprob_row, token, top_logprobs);
  return token;
}

void Scheduler::accept_token(Slot& slot, TokenId token) {
  const auto now = Clock::now();
  if (slot.generated == 0) slot.first_token = now;
  const auto& stop_tokens = slot.job->params.stop_tokens;
  if (std::find(stop_tokens.begin(), stop_tokens.end(), token) != stop_tokens.end())
    return finish(slot, FinishReason::Stop);
  ++slot.generated;
  slot.sampler->accept(token);
  const std::string piece(tokenizer_.decode(slot.last, token));
  const bool stopped = slot.text->append(piece);
  std::optional<TokenLogprob> logprob;
  if (slot.logprobs) {
    logprob.emplace(TokenLogprob{piece, slot.logprobs->chosen, {}});
    for (const auto& [id, lp] : slot.logprobs->top) logprob->top.emplace_back(std::string(tokenizer_.decode(slot.last, id)), lp);
    slot.logprobs.reset();
  }
  slot.job->channel->push(slot.text->take_ready(), std::move(logprob));
  slot.last = token;
  if (stopped) return finish(slot, FinishReason::Stop);
  // The next pass would feed `token` at slot.pos: it must fit in the cache.
  if (slot.generated >= slot.job->params.max_tokens || slot.pos >= context_) return finish(slot, FinishReason::Length);
}

void Scheduler::finish(Slot& slot, FinishReason reason, std::string error) {
  // Choices still waiting for this one's prompt end with it; a waiting choice that ends
  // leaves its leader's list.
  for (Slot* f : std::exchange(slot.followers, {}))
    if (f->job) {
      f->leader = nullptr;
      finish(*f, reason, error);
    }
  if (slot.leader) std::erase(std::exchange(slot.leader, nullptr)->followers, &slot);
  const auto now = Clock::now();
  Job& job = *slot.job;
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int>(job.params.prompt.size());
  stats.cached_tokens = slot.reused;
  stats.completion_tokens = slot.generated;
  stats.drafted = slot.drafted;
  stats.accepted = slot.accepted;
  stats.queue_seconds = seconds_between(job.submitted, slot.started);
  if (slot.first_token != Clock::time_point{})
    stats.ttft_seconds = seconds_between(job.submitted, slot.first_token);
  if (slot.generated > 1) {
    const double s = seconds_between(slot.first_token, now);
    if (s > 0) stats.tokens_per_second = (slot.generated - 1) / s;
  }
  if (reason == FinishReason::Stop || reason == FinishReason::Length) job.channel->push(slot.text->take_rest());
  job.channel->finish(reason, stats, std::move(error));
  if (metrics_) metrics_->count_generation(stats.prompt_tokens, stats.completion_tokens, stats.ttft_seconds,
                                           stats.cached_tokens);
  slot.job.reset();
  slot.first_token = {};
  {
    std::lock_guard lock(mutex_);
    --active_;
    if (metrics_) metrics_->set_active_slots(active_);
  }
  idle_.notify_all();
}

}  // namespace llama2::server
