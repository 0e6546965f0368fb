// ============================================================================
// The choice of integer kernel set (the best this CPU runs, or one a test forces), and the
// Product that ops' matrix products run over the pool with it.
// ============================================================================
#include <atomic>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/int8/gemm.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "kernels/int8/kernel_set.hpp"

namespace llama2::int8 {

// ---------------------------------------------------------------------------
// Kernel choice
// ---------------------------------------------------------------------------

namespace {

using detail::KernelSet;

std::atomic<const KernelSet*> g_forced{nullptr};

const KernelSet& default_set() {
  static const KernelSet* best = [] {
    const auto sets = detail::simd_kernels();
    return sets.empty() ? &detail::scalar_kernels() : sets.front();
  }();
  return *best;
}

const KernelSet& active_set() {
  const KernelSet* forced = g_forced.load(std::memory_order_relaxed);
  return forced ? *forced : default_set();
}

// The GEMM for `w` over a batch of n_tokens, or nullptr (the rows kernel then).
detail::GemmFn gemm_fn(const Tensor& w, int n_tokens) {
  if (n_tokens < detail::kGemmMinTokens || !detail::gemm_handles(w)) return nullptr;
  return active_set().gemm[static_cast<int>(w.type)];
}

// The rows kernel for `w`, after checking that the kernels can multiply it.
detail::RowsFn rows_fn(const Tensor& w) {
  detail::check_matrix(w);
  const int index = static_cast<int>(w.type);
  const detail::RowsFn fn = active_set().rows[index];
  return fn ? fn : detail::scalar_kernels().rows[index];
}

}  // namespace

detail::QuantizeFn detail::active_quantizer(int block) { return block % kQK == 0 ? active_set().quantize : nullptr; }

void detail::check_matrix(const Tensor& w) {
  if (w.type == DType::F32) throw Error("integer kernels called with an f32 matrix");
  if (w.type == DType::Q8_GROUPED && (w.group_size <= 0 || w.cols % w.group_size != 0))
    throw Error("q8_grouped matrix with group size " + std::to_string(w.group_size) + " for " +
                std::to_string(w.cols) + " columns");
  if (w.cols % dtype_block_values(w.type) != 0)
    throw Error(std::string(dtype_name(w.type)) + " matrix with " + std::to_string(w.cols) +
                " columns, not a multiple of its block");
}

std::vector<std::string> available_kernels() {
  std::vector<std::string> names;
  for (const KernelSet* k : detail::simd_kernels()) names.emplace_back(k->name);
  names.emplace_back("scalar");
  return names;
}

const char* kernel_name() { return active_set().name; }

DotProbe dot_probe() { return {active_set().dot_chains, active_set().dot_chain_macs}; }

bool batch_uses_int8_gemm(const Tensor& w, int n_tokens) { return gemm_fn(w, n_tokens) != nullptr; }

void force_kernel(const std::string& name) {
  if (name.empty()) {
    g_forced.store(nullptr);
    return;
  }
  if (name == "scalar") {
    g_forced.store(&detail::scalar_kernels());
    return;
  }
  for (const KernelSet* k : detail::simd_kernels()) {
    if (name == k->name) {
      g_forced.store(k);
      return;
    }
  }
  throw Error("kernel set '" + name + "' is not available on this CPU");
}

// ---------------------------------------------------------------------------
// Product
// ---------------------------------------------------------------------------

struct Product::Impl {
  detail::ActBuffer buffers[kMaxMatrices];
  std::vector<detail::Acts> token_acts[kMaxMatrices];
  const Tensor* weights[kMaxMatrices] = {};
  const detail::Acts* acts[kMaxMatrices] = {};
  detail::RowsFn fns[kMaxMatrices] = {};
  // A batch: the GEMM, over the activations laid out for it (shared like acts).
  detail::GemmFn gemms[kMaxMatrices] = {};
  detail::TokenPanelBuffer panel_buffers[kMaxMatrices];
  const detail::TokenPanelBuffer* panels[kMaxMatrices] = {};
  int n_tokens = 0;
};

Product::Product() : impl_(std::make_unique<Impl>()) {}
Product::~Product() = default;

void Product::prepare(std::span<const Tensor* const> weights, const float* x, int n_tokens, ThreadPool* pool) {
  if (weights.size() > kMaxMatrices) throw Error("int8::Product: more than 4 matrices");
  Impl& p = *impl_;
  p.n_tokens = n_tokens;
  int blocks[kMaxMatrices];
  for (std::size_t i = 0; i < kMaxMatrices; ++i) p.weights[i] = i < weights.size() ? weights[i] : nullptr;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const Tensor* w = weights[i];
    if (w == nullptr) continue;
    p.fns[i] = rows_fn(*w);
    p.gemms[i] = gemm_fn(*w, n_tokens);
    blocks[i] = detail::act_block(*w);
    std::size_t same = 0;  // an earlier matrix that reads x the same way
    while (same < i && !(p.weights[same] && blocks[same] == blocks[i] && p.weights[same]->cols == w->cols)) ++same;
    if (same < i) {
      p.acts[i] = p.acts[same];
      p.panels[i] = p.panels[same];
    } else {
      p.buffers[i].quantize(x, w->cols, n_tokens, blocks[i], pool);
      p.token_acts[i].resize(static_cast<std::size_t>(std::max(n_tokens, 0)));
      for (int t = 0; t < n_tokens; ++t) p.token_acts[i][t] = p.buffers[i].acts(t);
      p.acts[i] = p.token_acts[i].data();
      p.panels[i] = nullptr;
    }
    // The GEMM's layout of the activations, unless an earlier matrix with a GEMM made it (the
    // one they share may have none: a Q6_K v beside Q4_K q and k on a set without Q6_K's).
    if (p.gemms[i] != nullptr && p.panels[i] == nullptr) {
      p.panel_buffers[i].build(p.acts[i], n_tokens, w->cols, blocks[i]);
      p.panels[i] = &p.panel_buffers[i];
    }
  }
}

void Product::rows(std::size_t i, float* y, std::int64_t row_begin, std::int64_t row_end) const {
  const Impl& p = *impl_;
  const Tensor& w = *p.weights[i];
  if (p.gemms[i] != nullptr) return p.gemms[i](w, p.panels[i]->panel(), y, w.rows, row_begin, row_end);
  p.fns[i](w, p.acts[i], p.n_tokens, y, w.rows, row_begin, row_end);
}

}  // namespace llama2::int8
