// What quant.cpp, quant_kernels.cpp and quant_simd.cpp share: ggml's block layouts as byte
// offsets, the integer form of a block that the kernels compute with, quantized activations,
// and the kernel-set table the dispatcher picks from. Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/thread_pool.hpp"
#include "model/tensor.hpp"

namespace llama2::quant::detail {

// ---- ggml block layouts (byte offsets; multi-byte fields are little-endian fp16) ----------
// Q8_0 (34 B):  d | qs[32] int8                          x = d * q
// Q4_0 (18 B):  d | qs[16] nibbles                       x = d * (q - 8)
// Q4_1 (20 B):  d | m | qs[16] nibbles                   x = d * q + m
//   value j < 16 is the low nibble of qs[j], value j + 16 its high nibble.
// Q4_K (144 B): d | dmin | scales[12] | qs[128]          x = d*sc_j*q - dmin*m_j, 8 sub-blocks
// Q5_K (176 B): d | dmin | scales[12] | qh[32] | qs[128]  of 32 with 6-bit sc_j, m_j packed in
//   scales[12]. Values 64k..64k+31 are the low nibbles of qs[32k..32k+31], values 64k+32..
//   64k+63 their high nibbles; Q5_K adds bit 2k (resp. 2k+1) of qh[l] as the 5th bit (16).
// Q6_K (210 B): ql[128] | qh[64] | scales[16] int8 | d   x = d * sc_h * (q - 32), 16
//   sub-blocks of 16. In each half n of 128 values, for l < 32: value l is the low nibble of
//   ql[64n+l] with bits 0-1 of qh[32n+l] on top, value 32+l the low nibble of ql[64n+32+l]
//   with bits 2-3, value 64+l the high nibble of ql[64n+l] with bits 4-5, value 96+l the high
//   nibble of ql[64n+32+l] with bits 6-7.
inline constexpr int kQK = 32;    // values per block of Q8_0 / Q4_0 / Q4_1
inline constexpr int kQKK = 256;  // values per K-quant super-block
inline constexpr int kQ4KScales = 4, kQ4KQs = 16;
inline constexpr int kQ5KScales = 4, kQ5KQh = 16, kQ5KQs = 48;
inline constexpr int kQ6KQl = 0, kQ6KQh = 128, kQ6KScales = 192, kQ6KD = 208;

inline std::uint16_t load_u16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store_u16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, 2); }

// The 6-bit scale and min of sub-block j (0..7) from a K-quant's 12 packed bytes.
inline void k_scale_min(const std::uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

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

struct KernelSet {
  const char* name = "";
  RowsFn rows[kNumDTypes] = {};  // nullptr: this set has no kernel for the type (use scalar)
  // The activations' quantizer for blocks of a multiple of 32 (nullptr: the scalar one). One
  // token's is serial work between two matrix-vector products, while the other threads wait:
  // scalar, it was ~3 % of a 110M-shape Q4_K token.
  QuantizeFn quantize = nullptr;
};

// The scalar set (quant::reference), in quant_kernels.cpp.
const KernelSet& scalar_kernels();
// The SIMD sets this CPU supports, best first (quant_simd.cpp).
std::vector<const KernelSet*> simd_kernels();

}  // namespace llama2::quant::detail
