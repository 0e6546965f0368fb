// Whole-model benchmarks behind `llama2 bench` (in the spirit of llama.cpp's llama-bench):
// prompt processing (ppN: N prompt tokens through forward_batch) and token generation (tgN:
// N tokens one at a time), each compared with its roofline (see machine.hpp).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "transformer/batch.hpp"
#include "transformer/state.hpp"
#include "core/types.hpp"
#include "model/model.hpp"

namespace llama2::tools {

// Summary of repeated measurements.
struct Stats {
  double median = 0, mean = 0, stddev = 0, min = 0, max = 0;  // stddev: sample (n - 1)
};
Stats summarize(std::vector<double> values);

// Weights of the model in parameters (the classifier counted once when it is shared).
std::uint64_t parameter_count(const Model& model);

// FLOPs to process a prompt of `n_tokens` positions from position 0, with logits for the last
// position only: 2 per weight of every layer's matrices per token, attention's
// 4 * dim * (pos + 1) per layer and position (scores, then the weighted sum of values), and the
// classifier once.
double prompt_flops(const Config& config, int n_tokens);

// Deterministic token ids for a synthetic prompt (no BOS or EOS among them).
std::vector<TokenId> bench_tokens(int n_tokens, int vocab_size);

// Seconds to run `prompt` from position 0 through forward_batch, scratch.max_items() positions
// per call, logits for the last position only (what feeding a prompt costs). `state` (at least
// prompt.size() positions) and `scratch` are the caller's, reused across repetitions as
// llama-bench reuses its context: what is timed is the model's work, not the allocator's
// first touch of fresh pages (tens of microseconds each on some VMs; time_to_first_token
// includes it).
double time_prompt(const Model& model, std::span<const TokenId> prompt, State& state, BatchScratch& scratch,
                   ThreadPool& pool);

// Seconds to generate `n_tokens` greedily one at a time from BOS at position 0 of `state`
// (forward() and argmax per token, as in generation).
double time_generation(const Model& model, int n_tokens, State& state, ThreadPool& pool);

// Seconds for `states.size()` sequences to generate `n_tokens` tokens each, greedily, as a
// server's continuous batching does: every step is one forward_batch call with the next token
// of every sequence (all want logits), then argmax per sequence. Sequence i starts from a
// token of its own at position 0 of states[i] (each at least n_tokens positions); scratch
// holds at least states.size() items.
double time_batched_decode(const Model& model, int n_tokens, std::span<State> states, BatchScratch& scratch,
                           ThreadPool& pool);

// Time to first token of a fresh process's work with a warm page cache: load (map) the model,
// allocate a State for `context` positions, feed `prompt` and pick the first token. Seconds.
double time_to_first_token(const std::string& path, std::span<const TokenId> prompt, int context,
                           ThreadPool& pool);

// Path of a deterministic random-weight model with the shape of a published one, written into
// `cache_dir` on first use and reused afterwards: "15M", "42M", "110M" (llama2.c's stories
// models, a version 0 checkpoint with a shared classifier), or a GGUF shape of `llama2 convert
// --random-shape` with an optional weight type, "llama-3.2-1b:q4_k" (default q8_0), written
// straight in that type. Throws UsageError for an unknown shape or type.
std::string shape_checkpoint(const std::string& shape, const std::string& cache_dir);
// "stories42M (random)", "qwen2.5-0.5b q4_k (random)": how a shape is named in the tables.
// Throws UsageError, as shape_checkpoint would, for an unknown shape or type.
std::string shape_display_name(const std::string& shape);

// $XDG_CACHE_HOME/llama2-cpp, else $HOME/.cache/llama2-cpp, else ./.llama2-cpp-cache.
std::string default_cache_dir();

}  // namespace llama2::tools
