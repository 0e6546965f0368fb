// The integer GEMM for batches (a prompt, the server's streams): weight rows decoded once per
// call into int8, activations laid out with 16 tokens side by side, and VNNI's vpdpbusd
// multiplying 4 bytes of one row (broadcast) by 4 bytes of each of the 16 tokens. Each lane of
// a result vector is one token, so no horizontal sums, and a row's decode is shared by every
// token of the call. Not part of the public API: int8::Product picks it (kernel_set.hpp).
//
// The arithmetic, per row r and token t (the spec; gemm_reference is it as plain loops). An
// activation block b is one weight part, or two of 16 values for Q6_K (its 16-value sub-block
// scales times its 6-bit values do not fit in int8, so each part keeps its own scale):
//   value of weight k in part p of block b:  a[r][b][p] * q[r][k] + m[r][b]   (q small integers)
//   f = 0;  for each block b in order:
//     for each part p in order:
//       f = fma(float(sum_{k in p} q[r][k] * x[t][k]), a[r][b][p] * d[t][b], f)  (integer sum exact)
//     f = fma(m[r][b], dsum[t][b], f)                                    (types with mins only)
// The SIMD kernel computes sum q x as sum q (x + 128) - 128 sum q (x + 128 is the unsigned
// operand vpdpbusd needs), which is exact, so it gives these bits for every token: the result
// does not depend on the token's lane, the batch size, the rows' tile or the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/int8/kernel_set.hpp"

namespace llama2::int8::detail {

inline constexpr int kGemmLanes = 16;  // tokens per vector (one 512-bit vector of int32)
// From this many tokens on, a batched product uses the GEMM; below, the row kernels (one token
// at a time: the GEMM's 16 lanes would be mostly empty).
inline constexpr int kGemmMinTokens = 6;

// Whether the GEMM handles `w`: Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K; Q8_GROUPED with groups
// of 32 or 64.
bool gemm_handles(const Tensor& w);
// Weight parts per activation block (above).
constexpr int gemm_parts(DType t) { return t == DType::Q6_K ? 2 : 1; }
// Whether the type adds a per-block min (the second fma above).
constexpr bool gemm_has_mins(DType t) { return t == DType::Q4_1 || t == DType::Q4_K || t == DType::Q5_K; }

// ---- Activations, token-interleaved ------------------------------------------------------
// For token group G (tokens 16G .. 16G+15) and activation block b of `block` values: the
// block's bytes as block / 4 vectors of 64 bytes, vector g holding x[k] + 128 for k = 4g .. 4g+3
// of token 16G + j at bytes 4j .. 4j+3; then the 16 tokens' d and dsum. Lanes past the last
// token are x = 0 (byte 128) with d = dsum = 0, so they add exactly nothing.
struct TokenPanel {
  const std::uint8_t* u = nullptr;  // [groups][blocks][block]  (16 tokens x 4 bytes per 64)
  const float* d = nullptr;         // [groups][blocks][16]
  const float* dsum = nullptr;      // [groups][blocks][16]
  std::int64_t blocks = 0;
  int block = 0, n_tokens = 0, groups = 0;
  const std::uint8_t* group_u(int g, std::int64_t b) const { return u + (g * blocks + b) * kGemmLanes * block; }
  const float* group_d(int g, std::int64_t b) const { return d + (g * blocks + b) * kGemmLanes; }
  const float* group_dsum(int g, std::int64_t b) const { return dsum + (g * blocks + b) * kGemmLanes; }
};

class TokenPanelBuffer {
 public:
  // Lays out acts[0 .. n_tokens) (quantized in blocks of `block`, n values each).
  void build(const Acts* acts, int n_tokens, std::int64_t n, int block);
  TokenPanel panel() const { return panel_; }

 private:
  std::vector<std::uint8_t> u_;
  std::vector<float> d_, dsum_;
  TokenPanel panel_;
};

// ---- Weight rows, decoded ----------------------------------------------------------------
// `count` rows from `row` on, in the integer form above: q [count][cols]; per row, activation
// block and part s = 128 * sum q and a ([count][blocks][parts]); per row and block m.
struct DecodedRows {
  std::vector<std::int8_t> q;
  std::vector<std::int32_t> s;
  std::vector<float> a, m;
  std::int64_t cols = 0, blocks = 0;
  int parts = 1;
  void resize(int count, std::int64_t cols_, std::int64_t blocks_, int parts_);
};
// The plain decode (through decode_int_block), the reference the SIMD decoders equal.
void decode_rows_reference(const Tensor& w, std::int64_t row, int count, DecodedRows& out);

// The arithmetic above as plain loops (scalar, std::fma): the SIMD GEMM equals it to the bit.
void gemm_reference(const Tensor& w, const TokenPanel& panel, float* y, std::int64_t ldy, std::int64_t row_begin,
                    std::int64_t row_end);

}  // namespace llama2::int8::detail
