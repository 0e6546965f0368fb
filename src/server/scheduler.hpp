// Continuous batching: one thread owns the model and N slots (one KV cache each) and advances
// every active sequence by one token per forward pass, so the weights are read once per step
// for all of them instead of once per sequence.
//
// Requests wait in a bounded queue; between two passes, finished sequences leave their slot
// and waiting ones take it (their prompts are fed in chunks inside the same passes, so a new
// arrival never stalls the others for a whole prompt). Text goes back to each request's
// HTTP thread through its RequestChannel as soon as it is made.
//
// Prompt cache: a slot remembers which tokens its KV cache holds when its sequence ends. A
// new request takes the free slot sharing the longest token prefix with its prompt, if that
// prefix is at least half of the prompt the slot last served (else the least recently used
// slot, whose cache is the one evicted), and is fed only the tokens after that prefix. Turn 10 of a chat, which sends the whole history again, thus
// pays for its new tokens only. Memory stays at the slots' own caches; a busy slot is never
// shared, and a prefix is reused only where its token ids match exactly.
//
// Speculative decoding (lookup_ngram > 0): a sequence's drafts (generation/
// speculative.hpp's prompt lookup) ride in the same pass at the positions after its token;
// its rows are then read in order, each picked as plain decoding would pick it, until a pick
// differs from its draft. forward_batch's rows do not depend on what else is in the pass, so
// the reply is bit for bit the plain one, and every kept draft saves a pass. For a sampled
// sequence this is speculative sampling's rejection rule with a one-token proposal: the draw
// lands on draft d with probability p(d), and otherwise is a draw from p without d. With a
// draft model instead (options.draft), the drafts are its greedy continuation, made for all
// decoding sequences together before the pass, and checked the same way.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/types.hpp"
#include "model/model.hpp"
#include "sampling/constraint.hpp"
#include "sampling/sampler.hpp"
#include "server/drafter.hpp"
#include "server/metrics.hpp"
#include "server/openai.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::server {

enum class FinishReason {
  Stop,       // EOS/BOS or a stop sequence
  Length,     // max_tokens or the end of the context
  Cancelled,  // the client went away, or the server is shutting down
  Failed,     // an internal error (the message says which)
};
// "stop", "length", "cancelled", "failed".
const char* finish_reason_name(FinishReason reason);

struct GenerationParams {
  std::vector<TokenId> prompt;  // non-empty, ids in the vocabulary
  int max_tokens = 16;          // prompt.size() + max_tokens <= the scheduler's context
  SamplerSettings sampling;     // seed 0: a fresh random seed per request
  std::vector<std::string> stop;
  // Tokens that end the reply (not part of it): BOS ends a story in llama2.c's models, EOS
  // (or a chat template's end-of-turn token) a chat reply.
  std::vector<TokenId> stop_tokens{kEosToken, kBosToken};
  // Constrained decoding (response_format): only tokens that keep the reply in the grammar's
  // language are sampled, and a stop token only once the value is whole. Null: free text.
  std::shared_ptr<const json_schema::Grammar> grammar;
  // >= 0: each generated token comes with its logprob and this many alternatives.
  int top_logprobs = -1;
};

struct GenerationStats {
  int prompt_tokens = 0;
  int cached_tokens = 0;         // of prompt_tokens, reused from the prompt cache (not fed)
  int completion_tokens = 0;
  double queue_seconds = 0;      // waiting for a slot
  double ttft_seconds = 0;       // from submit() to the first generated token
  double tokens_per_second = 0;  // generated tokens after the first, over the time since it
  int drafted = 0;               // speculative decoding: draft tokens checked
  int accepted = 0;              // of those, kept (each saved a pass)
};

// The way back from the scheduler thread to the HTTP thread of one request.
class RequestChannel {
 public:
  struct Update {
    std::string text;                      // text made since the last update (may be empty)
    std::vector<TokenLogprob> logprobs;    // the tokens made since then (when requested)
    std::optional<FinishReason> finished;  // the end; arrives together with the last text
  };

  // Waits up to `timeout` for new text or the end, and takes what has arrived.
  Update wait(std::chrono::milliseconds timeout);
  // The client is gone: the scheduler frees the slot before its next pass.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Valid once the end has been delivered by wait().
  GenerationStats stats() const;
  std::string error() const;

  // ---- scheduler side ----
  void push(std::string_view text, std::optional<TokenLogprob> logprob = std::nullopt);
  void finish(FinishReason reason, const GenerationStats& stats, std::string error = {});

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string pending_;
  std::vector<TokenLogprob> pending_logprobs_;
  std::optional<FinishReason> finished_;
  GenerationStats stats_;
  std::string error_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int parallel = 4;   // slots: sequences generated at the same time
  int queue = 64;     // requests that may wait for a slot; more are refused (503)
  int context = 0;    // positions per slot (prompt + reply); 0 = the model's seq_len
  int threads = 1;    // compute threads of the forward pass
  int max_batch_tokens = 128;  // tokens per pass: every decoding slot's, then prompt chunks
  // A free slot keeps the KV cache of its last sequence; a new request goes to the free slot
  // whose cached tokens share the longest prefix with its prompt and feeds only the rest.
  bool prompt_cache = true;
  // Speculative decoding with prompt lookup: each pass also checks up to draft_max tokens
  // that followed the last earlier match of the sequence's last <= lookup_ngram tokens
  // (0: off). The reply is token for token that of plain decoding (with the same seed).
  int lookup_ngram = 0;
  // Speculative decoding with a draft model of the same vocabulary (null: none; not with
  // lookup_ngram): its greedy tokens are the drafts (server/drafter.hpp), checked as above.
  std::shared_ptr<const Model> draft;
  int draft_max = 8;
};

class Scheduler {
 public:
  // Allocates the slots' KV caches and starts the scheduler thread.
  Scheduler(std::shared_ptr<const Model> model, const Tokenizer& tokenizer, SchedulerOptions options,
            Metrics* metrics = nullptr);
  // Cancels whatever is still queued or running and joins the thread.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. Throws ApiError: 503 when the queue is full or the scheduler is
  // draining, 400 when the prompt and max_tokens do not fit in the context or a sampling
  // setting is out of range.
  std::shared_ptr<RequestChannel> submit(GenerationParams params);
  // n choices of one prompt (n <= parallel(), else 400), admitted together: the prompt is fed
  // once, in the first choice's slot, and its keys, values and last logits are copied to the
  // others. Choice i samples with seed + i, so a seeded request repeats choice by choice.
  std::vector<std::shared_ptr<RequestChannel>> submit(GenerationParams params, int n);

  int context() const { return context_; }
  int parallel() const { return static_cast<int>(slots_.size()); }
  int queue_limit() const { return options_.queue; }

  // Shutdown, first half: refuse new requests and cancel the queued ones; running ones go on.
  void drain();
  // Waits until nothing is queued or running; false if `timeout` passed first.
  bool wait_idle(std::chrono::milliseconds timeout);
  // Shutdown, second half: cancel the running requests too.
  void cancel_all();

 private:
  struct Job;
  struct Slot;
  bool speculative() const { return options_.lookup_ngram > 0 || drafter_.has_value(); }
  void loop();
  void admit_locked();
  void step();
  void take_slot(Slot& slot, std::unique_ptr<Job> job, int reused);
  TokenId sample_next(Slot& slot, std::span<float> logits);
  void start_followers(Slot& leader, std::span<const float> logits);
  void accept_token(Slot& slot, TokenId token);
  void finish(Slot& slot, FinishReason reason, std::string error = {});
  void fail_job(Job& job, FinishReason reason, std::string error);

  std::shared_ptr<const Model> model_;
  const Tokenizer& tokenizer_;
  std::shared_ptr<const TokenTrie> token_trie_;  // the vocabulary's bytes, for constraints
  SchedulerOptions options_;
  Metrics* metrics_;
  int context_;

  struct Compute;  // thread pool, batch scratch, logits: used by the scheduler thread only
  std::unique_ptr<Compute> compute_;
  std::optional<Drafter> drafter_;  // with a draft model
  std::vector<std::unique_ptr<Slot>> slots_;
  std::uint64_t admissions_ = 1;  // (a slot never used has admitted 0) also the clock of the slots' least-recently-used order

  std::mutex mutex_;  // guards the fields below
  std::condition_variable wake_;   // work arrived, or stop
  std::condition_variable idle_;   // a request finished
  std::deque<std::unique_ptr<Job>> queue_;
  int active_ = 0;
  bool draining_ = false;
  bool cancel_running_ = false;
  bool stop_ = false;
  std::mt19937_64 seeds_;

  std::thread thread_;
};

}  // namespace llama2::server
