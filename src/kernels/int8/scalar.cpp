// ============================================================================
// The integer kernels' scalar half: each block's integer form, activation quantization, and
// the scalar reference of the integer algorithm (also the portable fallback). The SIMD kernel
// sets are in dispatch.cpp, the choice between them and the product ops runs in product.cpp.
// ============================================================================
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "kernels/int8/kernel_set.hpp"

namespace llama2::int8 {

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
  const QuantizeFn simd = active_quantizer(block), quantize_token = simd ? simd : quantize_scalar;
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

namespace reference {
void matvec(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end) {
  detail::check_matrix(w);
  detail::ActBuffer buf;
  buf.quantize(x, w.cols, 1, detail::act_block(w));
  const detail::Acts a = buf.acts(0);
  detail::scalar_kernels().rows[static_cast<int>(w.type)](w, &a, 1, y, w.rows, row_begin, row_end);
}
}  // namespace reference

}  // namespace llama2::int8
