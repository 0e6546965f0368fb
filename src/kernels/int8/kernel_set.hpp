// What the integer kernels' files share (scalar.cpp, dispatch.cpp, product.cpp and the per-ISA
// -inl.hpp files): the integer form of a block, quantized activations, and the kernel-set table
// the dispatcher picks from. Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/thread_pool.hpp"
#include "dtype/blocks.hpp"
#include "dtype/codec.hpp"
#include "model/tensor.hpp"

namespace llama2::int8::detail {

// The block layouts (kQK, kQKK, offsets, load_u16, k_scale_min, ...) live with the types.
using namespace llama2::blocks;
using quant::bf16_to_f32;
using quant::dequantize_row;
using quant::f16_to_f32;

// ---- The integer form of a block ---------------------------------------------------------
// Every type's values are  x_i = A[i/32] * (isc[i/16] * q_i) + M[i/32]  with small integers
// q_i and isc: the kernels multiply q by int8 activations in integer arithmetic and apply A
// and M once per 32 values. (Q6_K is the only type with isc != 1.)
struct IntBlock {
  std::int8_t q[kQKK];
  std::int32_t isc[kQKK / 16];
  float a[kQKK / 32];
  float m[kQKK / 32];
};
// Decodes block `b` of a row of type `t` (a ggml block type) into `out`; `out` covers
// dtype_block_values(t) values.
void decode_int_block(DType t, const std::uint8_t* block, IntBlock& out);

// ---- Quantized activations ---------------------------------------------------------------
// One vector x[n] as int8 blocks of `block` values: x ~ d[b] * q[i] for i in block b.
struct Acts {
  const float* x = nullptr;          // the fp32 input (F16/BF16 kernels use only this)
  const std::int8_t* q = nullptr;    // n values, padded with zeros to a multiple of 64
  const float* d = nullptr;          // per block: the scale, max|x| / 127
  const float* dsum = nullptr;       // per block: d * sum(q), what a block's min multiplies
  // q again with every 128 values as 16-value pieces: values 0-15 of blocks 0, 2, 1, 3, then
  // values 16-31 of the same (only when block is 32 and n a multiple of 256). The AVX-512
  // K-quant kernels build each vector from 16-byte pieces of the nibbles whose low nibbles are
  // sub-blocks 0 and 2 and whose high ones 1 and 3 (see KSuperBlock).
  const std::int8_t* qk = nullptr;
  // d again, with the odd blocks' scales divided by 16 (alongside qk): the AVX-512 Q4_K kernel
  // multiplies high nibbles in place, at 16 times their value.
  const float* dk = nullptr;
  std::int64_t n = 0;
  int block = kQK;
};

// Quantizes one block of `block` values: d = max|x| / 127, q = round-half-even(x / d), dsum =
// d * sum(q). The scalar reference that every kernel set's QuantizeFn equals to the bit.
void quantize_block(const float* x, int block, std::int8_t* q, float& d, float& dsum);
// Quantizes x[0, n) in blocks of `block` (which divides n), block b's scale to d[b] and its
// d * sum(q) to dsum[b]. SIMD versions are called only for multiples of 32.
using QuantizeFn = void (*)(const float* x, std::int64_t n, int block, std::int8_t* q, float* d, float* dsum);

// Owns the quantized activations of up to n_tokens vectors (reused across calls).
class ActBuffer {
 public:
  // Quantizes x[t * n .. t * n + n) for t < n_tokens in blocks of `block` (which divides n);
  // block 0 means fp32 kernels (nothing to quantize). With a pool, many tokens are quantized
  // in parallel (each token the same way whichever thread does it).
  void quantize(const float* x, std::int64_t n, int n_tokens, int block, ThreadPool* pool = nullptr);
  Acts acts(int token) const;

 private:
  const float* x_ = nullptr;
  std::int64_t n_ = 0, padded_ = 0, blocks_ = 0;
  int block_ = 0;
  bool k_order_ = false;  // qk_ holds the K-order copy (Acts::qk)
  std::vector<std::int8_t> q_, qk_;
  std::vector<float> d_, dsum_, dk_;
};

// The activation block a weight type's kernels expect: 32 for the ggml types, the group size
// for Q8_GROUPED, 0 (no quantization) for F16/BF16.
int act_block(const Tensor& w);

// ---- Kernel sets -------------------------------------------------------------------------
// y[t * ldy + r] = W[r] . acts[t] for r in [row_begin, row_end), t < n_tokens.
using RowsFn = void (*)(const Tensor& w, const Acts* acts, int n_tokens, float* y, std::int64_t ldy,
                        std::int64_t row_begin, std::int64_t row_end);
inline constexpr int kNumDTypes = static_cast<int>(DType::Q8_GROUPED) + 1;
// The batch GEMM (gemm.hpp): y[t * ldy + r] for r in [row_begin, row_end), every token of the
// panel.
struct TokenPanel;
using GemmFn = void (*)(const Tensor& w, const TokenPanel& panel, float* y, std::int64_t ldy, std::int64_t row_begin,
                        std::int64_t row_end);

struct KernelSet {
  const char* name = "";
  RowsFn rows[kNumDTypes] = {};  // nullptr: this set has no kernel for the type (use scalar)
  GemmFn gemm[kNumDTypes] = {};  // nullptr: batches go through `rows` too
  // The GEMM's instruction in independent chains, for `llama2 bench`'s int8 peak: `iterations`
  // steps of dot_chain_macs multiply-adds; returns a sum to keep (nullptr: no GEMM).
  std::int32_t (*dot_chains)(std::int64_t iterations, std::int32_t seed) = nullptr;
  int dot_chain_macs = 0;
  // The activations' quantizer for blocks of a multiple of 32 (nullptr: the scalar one). One
  // token's is serial work between two matrix-vector products, while the other threads wait:
  // scalar, it was ~3 % of a 110M-shape Q4_K token.
  QuantizeFn quantize = nullptr;
};

// The scalar set (int8::reference), in scalar.cpp.
const KernelSet& scalar_kernels();
// The SIMD sets this CPU supports, best first (dispatch.cpp).
std::vector<const KernelSet*> simd_kernels();
// The active set's quantizer for blocks of `block` values; nullptr: the scalar one (product.cpp).
QuantizeFn active_quantizer(int block);
// Throws Error unless the integer kernels can multiply `w`: not F32, and rows of whole blocks
// (whole groups for Q8_GROUPED).
void check_matrix(const Tensor& w);

}  // namespace llama2::int8::detail
