// ============================================================================
// The Llama transformer over a batch of tokens. The equations are those of
// transformer.cpp, applied row by row to [n_items, width] activation matrices;
// only the weight products are shared (one GEMM per weight matrix).
// ============================================================================
#include "transformer/batch.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "core/error.hpp"
#include "kernels/ops.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {

namespace {

// Items per chunk of the per-item steps (norms, RoPE, residual adds). Each costs well under
// a microsecond per item, so small batches (a server's few sequences) run inline instead of
// paying for a dispatch to the pool.
constexpr std::int64_t kItemGrain = 16;

// Runs fn(i) for every item i < n, spread over the pool in contiguous chunks. Every item is
// computed by the same code whichever thread runs it, so results do not depend on the split.
template <class F>
void for_each_item(ThreadPool& pool, int n, F&& fn) {
  pool.parallel_for(n, kItemGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) fn(static_cast<int>(i));
  });
}

void check_items(const Model& model, std::span<const BatchItem> items,
                 std::vector<std::pair<const State*, Position>>& seen) {
  const Config& c = model.config();
  const std::size_t cache_per_position = static_cast<std::size_t>(c.n_layers) * c.kv_dim();
  seen.clear();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const BatchItem& it = items[i];
    const std::string where = "batch item " + std::to_string(i) + ": ";
    if (it.state == nullptr) throw Error(where + "no state");
    // A State built for another Config would be indexed out of bounds.
    if (it.state->x.size() != static_cast<std::size_t>(c.dim) ||
        it.state->key_cache.size() != cache_per_position * it.state->max_positions())
      throw Error(where + "the state was made for a model of another shape");
    if (it.token < 0 || it.token >= c.vocab_size)
      throw Error(where + "token id " + std::to_string(it.token) + " is outside the vocabulary (0.." +
                  std::to_string(c.vocab_size - 1) + ")");
    if (it.pos < 0 || it.pos >= it.state->max_positions())
      throw Error(where + "position " + std::to_string(it.pos) + " is outside the context of " +
                  std::to_string(it.state->max_positions()));
    seen.emplace_back(it.state, it.pos);
  }
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
    throw Error("two batch items have the same state and position");
}

// One chunk of at most scratch.max_items() items (already checked).
void forward_chunk(const Model& model, std::span<const BatchItem> items, BatchScratch::Buffers& b, ThreadPool& pool,
                   float* logits_out) {
  auto &x = b.x, &xb = b.xb, &xb2 = b.xb2, &q = b.q, &k = b.k, &v = b.v, &att_out = b.att_out, &hb = b.hb,
       &hb2 = b.hb2;
  auto& scores = b.scores;
  const Config& c = model.config();
  const Weights& w = model.weights();
  const int n = static_cast<int>(items.size());
  const int dim = c.dim, kv_dim = c.kv_dim(), hidden = c.hidden_dim, head_size = c.head_size();
  const std::size_t udim = dim, uq = c.q_dim(), ukv = kv_dim, uhidden = hidden;
  const RopeSpec rope = rope_spec(model);

  // Attention scratch: one row per thread, as long as the longest context in the batch.
  int max_pos = 1;
  for (const BatchItem& it : items) max_pos = std::max(max_pos, it.pos + 1);
  const std::size_t score_row = static_cast<std::size_t>(max_pos);
  if (scores.size() < score_row * pool.size()) scores.resize(score_row * pool.size());

  // x[i] = token_embedding[token_i]
  for_each_item(pool, n, [&](int i) { dequantize_row(w.token_embedding, items[i].token, &x[i * udim]); });

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layers[l];

    // ---- attention block ----
    // xb = rmsnorm(x) * rms_att
    for_each_item(pool, n, [&](int i) {
      ops::rmsnorm(&xb[i * udim], &x[i * udim], lw.rms_att.data(), dim, c.norm_eps);
    });
    // q, k, v = Wq xb, Wk xb, Wv xb for the whole batch (one pool job)
    const ops::MatvecOutput qkv[] = {{&lw.wq, q.data()}, {&lw.wk, k.data()}, {&lw.wv, v.data()}};
    ops::matmul_shared(qkv, xb.data(), n, pool);
    // Biases, q/k norms and RoPE at each item's position (finish_qkv, as forward does); k and
    // v go to the item's cache row. All rows are written before any attention reads the
    // caches (causality within the batch).
    for_each_item(pool, n, [&](int i) {
      const BatchItem& it = items[i];
      finish_qkv(c, lw, rope, it.pos, &q[i * uq], &k[i * ukv], &v[i * ukv]);
      std::copy_n(&k[i * ukv], kv_dim, it.state->key(l, it.pos));
      std::copy_n(&v[i * ukv], kv_dim, it.state->value(l, it.pos));
    });
    // att_out[i] = concat over heads of softmax(q k^T / sqrt(d)) v, over positions 0..pos_i of the
    // item's own cache. The (item, head) pairs are handed out dynamically, longest context
    // first: in a prompt the cost grows with the position, and an even static split would
    // leave the thread holding the early positions idle. Each pair is computed by one thread
    // with the same code, so the split does not change the results.
    // Pairs are claimed a few at a time (up to one item's heads): one claim per pair made the
    // shared counter's cache line a measurable cost of a prompt's attention with two threads.
    const std::int64_t n_pairs = static_cast<std::int64_t>(n) * c.n_heads;
    const std::int64_t per_claim = std::clamp<std::int64_t>(n_pairs / (pool.size() * 32), 1, c.n_heads);
    std::atomic<std::int64_t> next_pair{0};
    pool.run([&](int thread, int) {
      float* thread_scores = scores.data() + thread * score_row;
      for (;;) {
        const std::int64_t taken = next_pair.fetch_add(per_claim, std::memory_order_relaxed);
        if (taken >= n_pairs) break;
        const std::int64_t first = n_pairs - 1 - taken;  // counting down: longest context first
        const std::int64_t last = std::max<std::int64_t>(0, first - per_claim + 1);
        for (std::int64_t pair = first; pair >= last; --pair) {
          const int i = static_cast<int>(pair / c.n_heads), h = static_cast<int>(pair % c.n_heads);
          const BatchItem& it = items[i];
          const std::int64_t kv_offset = static_cast<std::int64_t>(h / c.kv_group()) * head_size;
          ops::attention_head(&q[i * uq + h * head_size], it.state->key(l, 0) + kv_offset,
                              it.state->value(l, 0) + kv_offset, kv_dim, head_size, it.pos + 1, thread_scores,
                              &att_out[i * uq + h * head_size]);
        }
      }
    });
    // x += Wo att_out; then xb = rmsnorm(x) * rms_ffn
    ops::matmul(lw.wo, att_out.data(), xb2.data(), n, pool);
    for_each_item(pool, n, [&](int i) {
      float* xi = &x[i * udim];
      const float* add = &xb2[i * udim];
      for (int j = 0; j < dim; ++j) xi[j] += add[j];
      ops::rmsnorm(&xb[i * udim], xi, lw.rms_ffn.data(), dim, c.norm_eps);
    });

    // ---- feed-forward block (SwiGLU) ----
    // hb = silu(W1 xb) * (W3 xb)
    const ops::MatvecOutput gate_up[] = {{&lw.w1, hb.data()}, {&lw.w3, hb2.data()}};
    ops::matmul_shared(gate_up, xb.data(), n, pool);
    for_each_item(pool, n, [&](int i) { ops::swiglu(&hb[i * uhidden], &hb2[i * uhidden], hidden); });
    // x += W2 hb
    ops::matmul(lw.w2, hb.data(), xb.data(), n, pool);
    for_each_item(pool, n, [&](int i) {
      float* xi = &x[i * udim];
      const float* add = &xb[i * udim];
      for (int j = 0; j < dim; ++j) xi[j] += add[j];
    });
  }

  // logits = Wcls rmsnorm(x) * rms_final, only for the wanted items: their normed rows are
  // gathered into consecutive rows of xb, so one GEMM writes logits_out directly.
  int n_wanted = 0;
  for (int i = 0; i < n; ++i) {
    if (!items[i].want_logits) continue;
    ops::rmsnorm(&xb[n_wanted * udim], &x[i * udim], w.rms_final.data(), dim, c.norm_eps);
    ++n_wanted;
  }
  if (n_wanted > 0) ops::matmul(w.wcls, xb.data(), logits_out, n_wanted, pool);
}

}  // namespace

BatchScratch::BatchScratch(const Config& c, int max_items)
    : max_items_(max_items), dim_(c.dim), q_dim_(c.q_dim()), kv_dim_(c.kv_dim()), hidden_(c.hidden_dim) {
  if (max_items <= 0) throw Error("a batch holds at least one item, got " + std::to_string(max_items));
  const std::size_t n = static_cast<std::size_t>(max_items);
  const std::size_t floats = checked_mul(
      n, 3 * static_cast<std::uint64_t>(dim_) + 2 * static_cast<std::uint64_t>(q_dim_) + 2 * kv_dim_ + 2 * hidden_,
      "batch scratch");
  if (floats > (std::uint64_t{1} << 32)) throw Error("batch of " + std::to_string(max_items) + " items is too large");
  buf_.x.resize(n * dim_);
  buf_.xb.resize(n * dim_);
  buf_.xb2.resize(n * dim_);
  buf_.q.resize(n * q_dim_);
  buf_.att_out.resize(n * q_dim_);
  buf_.k.resize(n * kv_dim_);
  buf_.v.resize(n * kv_dim_);
  buf_.hb.resize(n * hidden_);
  buf_.hb2.resize(n * hidden_);
}

void forward_batch(const Model& model, std::span<const BatchItem> items, BatchScratch& s, ThreadPool& pool,
                   float* logits_out) {
  const Config& c = model.config();
  if (s.dim_ != c.dim || s.q_dim_ != c.q_dim() || s.kv_dim_ != c.kv_dim() || s.hidden_ != c.hidden_dim)
    throw Error("the batch scratch was made for a model of another shape");
  // Check everything before touching any cache, so a bad batch leaves every State as it was.
  check_items(model, items, s.seen_);
  const bool any_wanted = std::any_of(items.begin(), items.end(), [](const BatchItem& it) { return it.want_logits; });
  if (any_wanted && logits_out == nullptr) throw Error("batch items want logits but no output was given");

  for (std::size_t begin = 0; begin < items.size(); begin += s.max_items_) {
    const auto chunk = items.subspan(begin, std::min<std::size_t>(s.max_items_, items.size() - begin));
    forward_chunk(model, chunk, s.buf_, pool, logits_out);
    const auto wanted = std::count_if(chunk.begin(), chunk.end(), [](const BatchItem& it) { return it.want_logits; });
    if (wanted > 0) logits_out += static_cast<std::size_t>(wanted) * c.vocab_size;
  }
}

}  // namespace llama2
