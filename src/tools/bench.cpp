#include "tools/bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "dtype/dtype.hpp"
#include "format/gguf_writer.hpp"
#include "format/random_checkpoint.hpp"
#include "sampling/sampler.hpp"
#include "transformer/batch.hpp"
#include "transformer/state.hpp"
#include "transformer/transformer.hpp"

namespace llama2::tools {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Feeds `prompt` from position 0 in batches of scratch.max_items(); the last position's logits
// go to state.logits.
void feed_prompt(const Model& model, State& state, std::span<const TokenId> prompt, BatchScratch& scratch,
                 ThreadPool& pool) {
  const int n = static_cast<int>(prompt.size()), batch_size = scratch.max_items();
  std::vector<BatchItem> items;
  for (int pos = 0; pos < n; pos += batch_size) {
    items.clear();
    for (int p = pos; p < std::min(n, pos + batch_size); ++p) items.push_back({&state, prompt[p], p, p == n - 1});
    forward_batch(model, items, scratch, pool, state.logits.data());
  }
}

// The version 0 file size write_random_checkpoint produces for `c` with a shared classifier.
std::uint64_t v0_file_bytes(const Config& c) {
  const std::uint64_t L = c.n_layers, dim = c.dim, hidden = c.hidden_dim, kv = c.kv_dim();
  const std::uint64_t floats = static_cast<std::uint64_t>(c.vocab_size) * dim + 2 * L * dim +
                               L * (2 * dim * dim + 2 * kv * dim + 3 * dim * hidden) + dim +
                               static_cast<std::uint64_t>(c.seq_len) * c.head_size();
  return 7 * 4 + floats * 4;
}
}  // namespace

Stats summarize(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(n);
  if (n > 1) {
    double sq = 0;
    for (double x : v) sq += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(sq / static_cast<double>(n - 1));
  }
  return s;
}

std::uint64_t parameter_count(const Model& model) {
  const Weights& w = model.weights();
  std::uint64_t n = w.token_embedding.size() + w.rms_final.size();
  for (const LayerWeights& l : w.layers) {
    n += l.rms_att.size() + l.rms_ffn.size();
    for (const Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3}) n += t->size();
  }
  if (w.wcls.data != w.token_embedding.data) n += w.wcls.size();
  return n;
}

double prompt_flops(const Config& c, int n_tokens) {
  const double L = c.n_layers, dim = c.dim, kv = c.kv_dim(), hidden = c.hidden_dim, n = n_tokens;
  const double matmul_per_token = 2 * L * (2 * dim * dim + 2 * kv * dim + 3 * dim * hidden);
  const double attention = L * 4 * dim * n * (n + 1) / 2;  // sum over positions of 4*dim*(pos+1)
  const double classifier = 2 * dim * c.vocab_size;
  return n * matmul_per_token + attention + classifier;
}

std::vector<TokenId> bench_tokens(int n_tokens, int vocab_size) {
  std::vector<TokenId> t(std::max(0, n_tokens));
  // Ids 3.. avoid <unk>, BOS and EOS; the stride scatters them over the embedding table.
  const int span = std::max(1, vocab_size - 3);
  for (int i = 0; i < n_tokens; ++i) t[i] = static_cast<TokenId>(3 + (i * 7919LL + 11) % span);
  if (vocab_size <= 3)
    for (auto& x : t) x = 0;
  return t;
}

double time_prompt(const Model& model, std::span<const TokenId> prompt, State& state, BatchScratch& scratch,
                   ThreadPool& pool) {
  if (state.max_positions() < static_cast<int>(prompt.size())) throw Error("the bench state is too short");
  const auto t0 = Clock::now();
  feed_prompt(model, state, prompt, scratch, pool);
  return seconds_since(t0);
}

double time_generation(const Model& model, int n_tokens, State& state, ThreadPool& pool) {
  if (state.max_positions() < n_tokens) throw Error("the bench state is too short");
  TokenId token = kBosToken;
  const auto t0 = Clock::now();
  for (int pos = 0; pos < n_tokens; ++pos) token = sample_argmax(forward(model, state, token, pos, pool));
  return seconds_since(t0);
}

double time_batched_decode(const Model& model, int n_tokens, std::span<State> states, BatchScratch& scratch,
                           ThreadPool& pool) {
  const int streams = static_cast<int>(states.size()), vocab = model.config().vocab_size;
  if (streams > scratch.max_items()) throw Error("the bench scratch is too small");
  for (const State& s : states)
    if (s.max_positions() < n_tokens) throw Error("the bench state is too short");
  std::vector<TokenId> tokens = bench_tokens(streams, vocab);
  std::vector<BatchItem> items(static_cast<std::size_t>(streams));
  std::vector<float> logits(static_cast<std::size_t>(streams) * static_cast<std::size_t>(vocab));
  const auto t0 = Clock::now();
  for (int pos = 0; pos < n_tokens; ++pos) {
    for (int i = 0; i < streams; ++i) items[i] = {&states[i], tokens[i], pos, true};
    forward_batch(model, items, scratch, pool, logits.data());
    for (int i = 0; i < streams; ++i)
      tokens[i] = sample_argmax(std::span<const float>(logits).subspan(static_cast<std::size_t>(i) * vocab, vocab));
  }
  return seconds_since(t0);
}

double time_to_first_token(const std::string& path, std::span<const TokenId> prompt, int context,
                           ThreadPool& pool) {
  const auto t0 = Clock::now();
  const auto model = Model::load(path);
  State state(model->config(), std::max<int>(context, static_cast<int>(prompt.size())));
  BatchScratch scratch(model->config(), std::clamp(static_cast<int>(prompt.size()), 1, kDefaultBatchSize));
  feed_prompt(*model, state, prompt, scratch, pool);
  const TokenId first = sample_argmax(state.logits);
  const double seconds = seconds_since(t0);
  if (first < 0) throw Error("no first token");  // keeps the pick from being optimised away
  return seconds;
}

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/llama2-cpp";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/llama2-cpp";
  return ".llama2-cpp-cache";
}

namespace {

// Writes the file `path` with `write(tmp)` under a temporary name, then renames it: a
// concurrent or interrupted run never sees (or leaves) a half-written file under the final name.
template <class Write>
void write_atomically(const std::filesystem::path& path, const std::string& cache_dir, Write write) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec) throw Error("cannot create the cache folder '" + cache_dir + "': " + ec.message());
  const fs::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  write(tmp.string());
  drop_from_page_cache(tmp.string());
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot write '" + path.string() + "'");
  }
}

// llama2.c's stories shapes, written as version 0 checkpoints; every other shape is GGUF.
bool is_llama2c_shape(const std::string& shape) { return shape == "15M" || shape == "42M" || shape == "110M"; }

// "qwen2.5-0.5b:q4_k" -> ("qwen2.5-0.5b", Q4_K); no type means Q8_0.
std::pair<std::string, DType> gguf_shape_and_type(const std::string& shape) {
  const std::size_t colon = shape.find(':');
  const std::string name = shape.substr(0, colon);
  DType type = DType::Q8_0;
  if (colon != std::string::npos) {
    const auto t = dtype_from_name(shape.substr(colon + 1));
    if (!t || !dtype_info(*t).writable || !dtype_info(*t).ggml_id)
      throw UsageError("'" + shape.substr(colon + 1) + "' in '" + shape + "' is not a GGUF weight type");
    type = *t;
  }
  return {name, type};
}

}  // namespace

std::string shape_display_name(const std::string& shape) {
  if (is_llama2c_shape(shape)) return "stories" + shape + " (random)";
  const auto [name, type] = gguf_shape_and_type(shape);
  gguf_random_shape(name);  // UsageError for an unknown name
  return name + " " + dtype_name(type) + " (random)";
}

std::string shape_checkpoint(const std::string& shape, const std::string& cache_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!is_llama2c_shape(shape)) {
    // Plain variables, not a structured binding: the lambda below captures them (clang 14
    // cannot capture bindings).
    const std::pair<std::string, DType> parsed = gguf_shape_and_type(shape);
    const std::string& name = parsed.first;
    const DType type = parsed.second;
    const RandomShape published = gguf_random_shape(name);  // UsageError for an unknown name
    const fs::path path = fs::path(cache_dir) / (name + "-" + dtype_name(type) + "-random-v1.gguf");
    if (fs::is_regular_file(path, ec)) return path.string();  // complete: files appear by rename only
    write_atomically(path, cache_dir, [&](const std::string& tmp) {
      write_random_gguf(tmp, published.config, type, /*seed=*/20240101, nullptr, published.tied_classifier,
                        published.rope_freqs);
    });
    return path.string();
  }
  const Config c = published_shape(shape);
  const fs::path path = fs::path(cache_dir) / ("stories" + shape + "-random-v0.bin");
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == v0_file_bytes(c)) return path.string();
  write_atomically(path, cache_dir, [&](const std::string& tmp) {
    write_random_checkpoint(tmp, c, /*shared_classifier=*/true, /*seed=*/20240101);
  });
  return path.string();
}

}  // namespace llama2::tools
