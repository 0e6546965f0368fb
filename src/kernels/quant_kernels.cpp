// ============================================================================
// Quantized matrix-vector products: activation quantization, the scalar reference of the
// integer algorithm (also the portable fallback), the choice of kernel set, and the thread
// split. The SIMD kernel sets live in quant_simd.cpp.
// ============================================================================
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernels/quant.hpp"
#include "kernels/quant_internal.hpp"

namespace llama2::quant {

namespace detail {

// ---------------------------------------------------------------------------
// Integer form of each block type (what the kernels multiply)
// ---------------------------------------------------------------------------

void decode_int_block(DType t, const std::uint8_t* b, IntBlock& o) {
  std::fill(std::begin(o.isc), std::end(o.isc), 1);
  std::fill(std::begin(o.m), std::end(o.m), 0.0f);
  switch (t) {
    case DType::Q8_0:
      o.a[0] = f16_to_f32(load_u16(b));
      for (int i = 0; i < kQK; ++i) o.q[i] = static_cast<std::int8_t>(b[2 + i]);
      return;
    case DType::Q4_0:
    case DType::Q4_1: {
      const bool q41 = t == DType::Q4_1;
      o.a[0] = f16_to_f32(load_u16(b));
      if (q41) o.m[0] = f16_to_f32(load_u16(b + 2));
      const std::uint8_t* qs = b + (q41 ? 4 : 2);
      const int offset = q41 ? 0 : 8;
      for (int j = 0; j < kQK / 2; ++j) {
        o.q[j] = static_cast<std::int8_t>((qs[j] & 0x0F) - offset);
        o.q[j + 16] = static_cast<std::int8_t>((qs[j] >> 4) - offset);
      }
      return;
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const float d = f16_to_f32(load_u16(b)), dmin = f16_to_f32(load_u16(b + 2));
      const std::uint8_t* qs = b + (five ? kQ5KQs : kQ4KQs);
      const std::uint8_t* qh = five ? b + kQ5KQh : nullptr;
      for (int j = 0; j < 8; ++j) {
        int sc, m;
        k_scale_min(b + (five ? kQ5KScales : kQ4KScales), j, sc, m);
        o.a[j] = d * static_cast<float>(sc);
        o.m[j] = -(dmin * static_cast<float>(m));
      }
      for (int i = 0; i < kQKK; ++i) o.q[i] = static_cast<std::int8_t>(k_affine_value(qs, qh, i));
      return;
    }
    case DType::Q6_K: {
      const float d = f16_to_f32(load_u16(b + kQ6KD));
      for (int j = 0; j < 8; ++j) o.a[j] = d;
      for (int h = 0; h < 16; ++h) o.isc[h] = static_cast<std::int8_t>(b[kQ6KScales + h]);
      for (int i = 0; i < kQKK; ++i) o.q[i] = static_cast<std::int8_t>(q6_k_value(b, i) - 32);
      return;
    }
    default:
      throw Error(std::string("no integer form for ") + dtype_name(t));
  }
}


// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

int act_block(const Tensor& w) {
  switch (w.type) {
    case DType::F16:
    case DType::BF16: return 0;
    case DType::Q8_GROUPED: return w.group_size;
    default: return kQK;
  }
}

namespace {
// Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves no fraction bits, so
// the float addition itself rounds (in the default rounding mode); the subtraction is exact.
// Unlike std::nearbyint it needs no library call when the build has no SSE4.1, and it vectorises.
// The caller's product must be rounded first, so this file is built without FP contraction
// (CMakeLists.txt): an FMA would round x * id + magic in one step.
inline float round_half_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

}  // namespace

// The scalar reference of activation quantization, which every kernel set's QuantizeFn equals.
void quantize_block(const float* xb, int block, std::int8_t* qb, float& d_out, float& dsum_out) {
  float amax = 0.0f;
  bool finite = true;
  for (int i = 0; i < block; ++i) {
    amax = std::max(amax, std::fabs(xb[i]));
    finite = finite && std::isfinite(xb[i]);
  }
  if (!finite) {
    // A NaN or infinity (a model with such weights): no int8 value stands for it, and
    // converting it to int is undefined. The block gets scale NaN, so every product with it
    // is NaN, as in fp32.
    std::fill(qb, qb + block, std::int8_t{0});
    d_out = dsum_out = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
  // A block of tiny values (amax below ~1e-36) has a d so small that 1/d overflows: divide.
  const bool divide = !std::isfinite(id);
  int sum = 0;
  for (int i = 0; i < block; ++i) {
    // |x * id| <= 127 up to rounding (the clamp is for the division's rounding).
    const int v = divide ? static_cast<int>(std::clamp(round_half_even(xb[i] / d), -127.0f, 127.0f))
                         : static_cast<int>(round_half_even(xb[i] * id));
    qb[i] = static_cast<std::int8_t>(v);
    sum += v;
  }
  d_out = d;
  dsum_out = d * static_cast<float>(sum);
}

namespace {
void quantize_scalar(const float* x, std::int64_t n, int block, std::int8_t* q, float* d, float* dsum) {
  for (std::int64_t b = 0; b < n / block; ++b) quantize_block(x + b * block, block, q + b * block, d[b], dsum[b]);
}
}  // namespace

// The quantizer of the active kernel set (defined with the kernel choice below).
QuantizeFn active_quantizer(int block);

void ActBuffer::quantize(const float* x, std::int64_t n, int n_tokens, int block, ThreadPool* pool) {
  x_ = x, n_ = n, block_ = block;
  k_order_ = block == kQK && n % kQKK == 0;
  if (block == 0) return;
  // Padding to 64 lets SIMD kernels load whole vectors past a row's last block.
  padded_ = (n + 63) / 64 * 64, blocks_ = n / block;
  const auto tokens = static_cast<std::size_t>(n_tokens);
  if (q_.size() < tokens * padded_) q_.resize(tokens * padded_);
  if (d_.size() < tokens * blocks_) d_.resize(tokens * blocks_), dsum_.resize(tokens * blocks_);
  if (k_order_ && qk_.size() < tokens * padded_) qk_.resize(tokens * padded_), dk_.resize(tokens * blocks_);
  const QuantizeFn quantize_token = active_quantizer(block);
  auto one = [&](std::int64_t t) {
    std::int8_t* q = q_.data() + t * padded_;
    quantize_token(x + t * n, n, block, q, d_.data() + t * blocks_, dsum_.data() + t * blocks_);
    std::fill(q + n, q + padded_, std::int8_t{0});
    if (!k_order_) return;
    std::int8_t* qk = qk_.data() + t * padded_;
    // Each 128 values (sub-blocks 0-3 of a K-quant half) as eight 16-value pieces: values 0-15
    // of sub-blocks 0, 2, 1, 3, then values 16-31 of the same.
    constexpr int kPiece = kQK / 2, kFrom[4] = {0, 2, 1, 3};
    for (std::int64_t i = 0; i < n; i += 4 * kQK)
      for (int o = 0; o < 8; ++o) std::memcpy(qk + i + kPiece * o, q + i + kQK * kFrom[o % 4] + kPiece * (o / 4), kPiece);
    const float* d = d_.data() + t * blocks_;
    float* dk = dk_.data() + t * blocks_;
    for (std::int64_t b = 0; b < blocks_; ++b) dk[b] = b % 2 == 0 ? d[b] : d[b] * 0.0625f;
  };
  // A prompt's activations are spread over the pool (serial work here would leave the other
  // threads waiting at every matrix); a few tokens are not worth a dispatch.
  if (pool != nullptr && n_tokens >= 8) {
    pool->parallel_for(n_tokens, 4, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t t = b; t < e; ++t) one(t);
    });
  } else {
    for (std::int64_t t = 0; t < n_tokens; ++t) one(t);
  }
}

Acts ActBuffer::acts(int token) const {
  Acts a;
  a.x = x_ + static_cast<std::int64_t>(token) * n_;
  a.n = n_;
  a.block = block_;
  if (block_ == 0) return a;
  a.q = q_.data() + token * padded_;
  a.d = d_.data() + token * blocks_;
  a.dsum = dsum_.data() + token * blocks_;
  if (k_order_) a.qk = qk_.data() + token * padded_, a.dk = dk_.data() + token * blocks_;
  return a;
}

namespace {

// ---------------------------------------------------------------------------
// The scalar reference: one row at a time, blocks in order, integer sums exact.
// ---------------------------------------------------------------------------

float row_dot_reference(const Tensor& w, std::int64_t r, const Acts& a) {
  const std::int64_t n = w.cols;
  if (w.type == DType::F16 || w.type == DType::BF16) {
    thread_local std::vector<float> row;
    row.resize(static_cast<std::size_t>(n));
    dequantize_row(w.type, w.row_data(r), row.data(), n);
    float sum = 0.0f;
    for (std::int64_t c = 0; c < n; ++c) sum += row[c] * a.x[c];
    return sum;
  }
  if (w.type == DType::Q8_GROUPED) {
    const int gs = w.group_size;
    const std::int8_t* q = w.i8() + r * n;
    const float* s = w.scales + r * (n / gs);
    float sum = 0.0f;
    for (std::int64_t g = 0; g < n / gs; ++g) {
      std::int32_t dot = 0;
      for (std::int64_t i = g * gs; i < (g + 1) * gs; ++i) dot += q[i] * a.q[i];
      sum += s[g] * a.d[g] * static_cast<float>(dot);
    }
    return sum;
  }
  // ggml block types: x_i = A[j] * isc[h] * q_i + M[j] per sub-block j of 32 (h of 16).
  const auto* blocks = reinterpret_cast<const std::uint8_t*>(w.row_data(r));
  const std::int64_t values = dtype_block_values(w.type), bytes = dtype_block_bytes(w.type);
  IntBlock ib;
  float sum = 0.0f, min_sum = 0.0f;
  for (std::int64_t blk = 0; blk < n / values; ++blk) {
    decode_int_block(w.type, blocks + blk * bytes, ib);
    for (std::int64_t j = 0; j < values / kQK; ++j) {
      const std::int64_t ab = blk * (values / kQK) + j;  // activation block
      const std::int8_t* xq = a.q + ab * kQK;
      std::int32_t dot = 0;
      for (int h = 0; h < 2; ++h) {
        std::int32_t half = 0;
        for (int i = 16 * h; i < 16 * h + 16; ++i) half += ib.q[kQK * j + i] * xq[i];
        dot += ib.isc[2 * j + h] * half;
      }
      sum += ib.a[j] * a.d[ab] * static_cast<float>(dot);
      min_sum += ib.m[j] * a.dsum[ab];
    }
  }
  return sum + min_sum;
}

void rows_reference(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy,
                    std::int64_t row_begin, std::int64_t row_end) {
  for (std::int64_t r = row_begin; r < row_end; ++r)
    for (int t = 0; t < n_tokens; ++t) y[t * ldy + r] = row_dot_reference(w, r, acts[t]);
}

KernelSet make_scalar_set() {
  KernelSet k;
  k.name = "scalar";
  for (auto& fn : k.rows) fn = rows_reference;
  k.rows[static_cast<int>(DType::F32)] = nullptr;
  return k;
}

}  // namespace

const KernelSet& scalar_kernels() {
  static const KernelSet set = make_scalar_set();
  return set;
}

}  // namespace detail

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

// The rows kernel for `w`, after checking that `w` is something the kernels can multiply.
detail::RowsFn rows_fn(const Tensor& w) {
  if (w.type == DType::F32) throw Error("quant kernels called with an f32 matrix");
  if (w.type == DType::Q8_GROUPED && (w.group_size <= 0 || w.cols % w.group_size != 0))
    throw Error("q8_grouped matrix with group size " + std::to_string(w.group_size) + " for " +
                std::to_string(w.cols) + " columns");
  if (w.cols % dtype_block_values(w.type) != 0)
    throw Error(std::string(dtype_name(w.type)) + " matrix with " + std::to_string(w.cols) +
                " columns, not a multiple of its block");
  const int index = static_cast<int>(w.type);
  const detail::RowsFn fn = active_set().rows[index];
  return fn ? fn : detail::scalar_kernels().rows[index];
}

// Rows per chunk handed to a thread: 16 rows are 64 bytes of y, so two threads never write
// the same cache line of a 64-byte aligned y.
constexpr std::int64_t kRowGrain = 16;

}  // namespace

detail::QuantizeFn detail::active_quantizer(int block) {
  const QuantizeFn fn = block % kQK == 0 ? active_set().quantize : nullptr;
  return fn ? fn : quantize_scalar;
}

std::vector<std::string> available_kernels() {
  std::vector<std::string> names;
  for (const KernelSet* k : detail::simd_kernels()) names.emplace_back(k->name);
  names.emplace_back("scalar");
  return names;
}

const char* kernel_name() { return active_set().name; }

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
// Entry points
// ---------------------------------------------------------------------------

void matvec_rows(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end) {
  const detail::RowsFn fn = rows_fn(w);
  thread_local detail::ActBuffer buf;
  buf.quantize(x, w.cols, 1, detail::act_block(w));
  const detail::Acts a = buf.acts(0);
  fn(w, &a, 1, y, w.rows, row_begin, row_end);
}

void matvec(const Tensor& w, const float* x, float* y, ThreadPool& pool) {
  const ops::MatvecOutput one[] = {{&w, y}};
  quant::matmul_shared(one, x, 1, pool);
}

void matvec_shared(std::span<const ops::MatvecOutput> outputs, const float* x, ThreadPool& pool) {
  quant::matmul_shared(outputs, x, 1, pool);
}

namespace {
// x's n_tokens rows quantized for w's kernels (in parallel for a prompt); the result lives in
// `buf` and `acts` until their next use.
const detail::Acts* quantize_tokens(const Tensor& w, const float* x, int n_tokens, ThreadPool* pool,
                                    detail::ActBuffer& buf, std::vector<detail::Acts>& acts) {
  buf.quantize(x, w.cols, n_tokens, detail::act_block(w), pool);
  acts.resize(static_cast<std::size_t>(n_tokens));
  for (int t = 0; t < n_tokens; ++t) acts[t] = buf.acts(t);
  return acts.data();
}
}  // namespace

void matmul_rows(const Tensor& w, const float* x, float* y, int n_tokens, std::int64_t row_begin,
                 std::int64_t row_end) {
  if (n_tokens <= 0) return;
  const detail::RowsFn fn = rows_fn(w);
  thread_local detail::ActBuffer buf;
  thread_local std::vector<detail::Acts> acts;
  fn(w, quantize_tokens(w, x, n_tokens, nullptr, buf, acts), n_tokens, y, w.rows, row_begin, row_end);
}

void matmul(const Tensor& w, const float* x, float* y, int n_tokens, ThreadPool& pool) {
  const ops::MatvecOutput one[] = {{&w, y}};
  quant::matmul_shared(one, x, n_tokens, pool);
}

void matmul_shared(std::span<const ops::MatvecOutput> outputs, const float* x, int n_tokens, ThreadPool& pool) {
  if (n_tokens <= 0) return;
  // At most this many matrices share one job; more go in several jobs.
  constexpr std::size_t kMaxShared = 4;
  if (outputs.size() > kMaxShared) {
    quant::matmul_shared(outputs.first(kMaxShared), x, n_tokens, pool);
    return quant::matmul_shared(outputs.subspan(kMaxShared), x, n_tokens, pool);
  }
  // x quantized once per distinct activation block size (q, k and v nearly always share one).
  thread_local detail::ActBuffer buffers[kMaxShared];
  thread_local std::vector<detail::Acts> token_acts[kMaxShared];
  const detail::Acts* acts[kMaxShared];
  detail::RowsFn fns[kMaxShared];
  int blocks[kMaxShared];
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& w = *outputs[i].w;
    fns[i] = rows_fn(w);
    blocks[i] = detail::act_block(w);
    std::size_t same = 0;
    while (same < i && !(blocks[same] == blocks[i] && outputs[same].w->cols == w.cols)) ++same;
    acts[i] = same < i ? acts[same] : quantize_tokens(w, x, n_tokens, &pool, buffers[i], token_acts[i]);
  }
  pool.parallel_for(ops::total_rows(outputs), kRowGrain, [&](std::int64_t b, std::int64_t e) {
    ops::for_each_part(outputs, b, e, [&](std::size_t i, std::int64_t lo, std::int64_t hi) {
      const Tensor& w = *outputs[i].w;
      fns[i](w, acts[i], n_tokens, outputs[i].y, w.rows, lo, hi);
    });
  });
}

namespace reference {
void matvec(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end) {
  rows_fn(w);  // the same argument checks
  detail::ActBuffer buf;
  buf.quantize(x, w.cols, 1, detail::act_block(w));
  const detail::Acts a = buf.acts(0);
  detail::scalar_kernels().rows[static_cast<int>(w.type)](w, &a, 1, y, w.rows, row_begin, row_end);
}
}  // namespace reference

}  // namespace llama2::quant
