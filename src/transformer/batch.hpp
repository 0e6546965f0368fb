// The batched forward pass: many tokens through the model in one pass over the weights.
//
// One function serves both uses of batching:
//  - prompt processing: the consecutive positions of one sequence (items share a State);
//  - continuous batching in a server: the next token of each of many sequences (one State
//    each, every sequence at its own position).
// Both are memory-bound one token at a time (every weight is read to do 2 FLOPs); applying
// each weight matrix to the whole batch as a GEMM reads the weights once per batch instead
// of once per token.
#pragma once
#include <span>
#include <utility>
#include <vector>

#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "model/model.hpp"
#include "transformer/state.hpp"

namespace llama2 {

// A batch size that keeps one chunk's activations in cache-friendly range and amortises the
// weight reads well; the prompt is fed in chunks of this many tokens by default.
inline constexpr int kDefaultBatchSize = 128;

// One token of one sequence.
struct BatchItem {
  State* state = nullptr;    // the sequence's KV cache (the State's other buffers are not used)
  TokenId token = 0;         // 0 <= token < vocab_size
  Position pos = 0;          // 0 <= pos < state->max_positions()
  bool want_logits = false;  // compute the classifier for this item
};

// Activations for up to max_items() items at once. Reusable across calls and models of the
// same Config; not thread-safe (one scratch per concurrent caller).
class BatchScratch {
 public:
  BatchScratch(const Config& config, int max_items);
  int max_items() const { return max_items_; }

 private:
  friend void forward_batch(const Model&, std::span<const BatchItem>, BatchScratch&, ThreadPool&, float*);
  int max_items_;
  int dim_, q_dim_, kv_dim_, hidden_;

 public:
  // The activation matrices, row-major [max_items, width]: item i's row starts at i * width.
  // (Public as a type only, so the implementation's helpers can take it; the instance is private.)
  struct Buffers {
    std::vector<float> x;    // residual stream [dim]
    std::vector<float> xb;   // normed input [dim]
    std::vector<float> xb2;  // projection output [dim]
    std::vector<float> q;    // queries [q_dim]
    std::vector<float> k;    // keys before they go to the cache [kv_dim]
    std::vector<float> v;    // values before they go to the cache [kv_dim]
    std::vector<float> att_out;  // attention output, the input of Wo [q_dim]
    std::vector<float> hb;   // feed-forward gate [hidden]
    std::vector<float> hb2;  // feed-forward up [hidden]
    std::vector<float> scores;  // attention scores: one row of the longest context per thread
  };

 private:
  Buffers buf_;
  std::vector<std::pair<const State*, Position>> seen_;  // for the duplicate check
};

// Runs every item through the model in one pass over the weights: each weight matrix is
// applied to the whole batch with ops::matmul (a GEMM). Per layer, every item's key and value
// are written to its State's cache before any attention runs, so items of one sequence at
// consecutive positions see each other causally: attention for item i covers positions
// 0..pos_i of its own State, which must all be filled by now (earlier calls, or this batch).
//
// Logits of the items with want_logits go to consecutive rows of logits_out, in item order:
// logits_out is [n_wanted, vocab_size] (it may be null when no item wants logits). The
// classifier is computed only for those rows.
//
// Batches larger than scratch.max_items() run as consecutive chunks of that size. Results
// equal forward()'s one token at a time up to float rounding (the GEMM sums in another order
// than the matrix-vector product), and do not depend on the pool's thread count at all.
//
// Throws Error for a null state, a token or position out of range, a State of another shape,
// or two items with the same (state, pos) — both would write the same cache row.
void forward_batch(const Model& model, std::span<const BatchItem> items, BatchScratch& scratch,
                   ThreadPool& pool, float* logits_out);

}  // namespace llama2
