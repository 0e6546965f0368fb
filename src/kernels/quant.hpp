// The integer kernels that multiply quantized matrices by vectors. (Row conversions to and
// from every DType, the codec, are in dtype/codec.hpp.)
//
// The kernels (matvec / matmul) do what pays on a memory-bound CPU: the activation vector is
// quantized once per call to int8 blocks (32 values per block for the ggml types, one block
// per weight group for Q8_GROUPED), each weight block is multiplied with it in int8 x int8 ->
// int32 arithmetic (VNNI's vpdpbusd where the CPU has it), and only the per-block sums are
// scaled in fp32. The result therefore differs from "dequantize, then fp32" by the activation
// quantization error (about 0.4 % of |x| per element, like llama2.c's runq.c), and from
// quant::reference::matvec (the same integer algorithm, scalar) only by the order of fp32
// additions. F16 and BF16 are converted to fp32 on the fly instead (no activation rounding).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "dtype/codec.hpp"
#include "kernels/ops.hpp"
#include "model/tensor.hpp"

namespace llama2::quant {

// ---- Kernels -----------------------------------------------------------------------------
// y[rows] = W x for any non-F32 W, rows split over the pool (see the file comment).
// Bit-identical for any thread count: every row is computed by one thread, the same way.
void matvec(const Tensor& w, const float* x, float* y, ThreadPool& pool);
// Several non-F32 matrices that read the same x, as one pool job (see ops::matvec_shared);
// x is quantized once per activation block size. Each output equals matvec's, bit for bit.
void matvec_shared(std::span<const ops::MatvecOutput> outputs, const float* x, ThreadPool& pool);
// The same over rows [row_begin, row_end), single-threaded (quantizes x itself).
void matvec_rows(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end);
// y[t][r] = W[r] . x[t] for t < n_tokens; x is [n_tokens, cols], y is [n_tokens, rows].
// Every token's result equals matvec's for that token alone (bit for bit).
void matmul(const Tensor& w, const float* x, float* y, int n_tokens, ThreadPool& pool);
void matmul_rows(const Tensor& w, const float* x, float* y, int n_tokens, std::int64_t row_begin,
                 std::int64_t row_end);
// matmul for several non-F32 matrices that read the same x, as one pool job (see
// ops::matmul_shared). Each output equals matmul's, bit for bit.
void matmul_shared(std::span<const ops::MatvecOutput> outputs, const float* x, int n_tokens, ThreadPool& pool);

// Names of the kernel sets this CPU can run, best first ("avx512vnni", "avxvnni", "avx2",
// "neon-dotprod", "neon", "scalar"; "scalar" is always last and is quant::reference).
std::vector<std::string> available_kernels();
// The kernel set matvec/matmul use: the first of available_kernels() unless overridden.
const char* kernel_name();
// Forces a kernel set by name (tests and benchmarks compare them); "" restores the default.
// Throws Error for a name not in available_kernels(). Not thread-safe with running kernels.
void force_kernel(const std::string& name);

namespace reference {
// The integer algorithm of the fast kernels, written as plain scalar loops: the spec and the
// test oracle. Quantizes x exactly like the fast kernels do.
void matvec(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end);
}  // namespace reference

}  // namespace llama2::quant
