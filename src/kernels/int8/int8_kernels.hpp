// The integer kernels that multiply quantized matrices by vectors. (Row conversions to and
// from every DType, the codec, are in dtype/codec.hpp.)
//
// The kernels do what pays on a memory-bound CPU: the activation vector is
// quantized once per call to int8 blocks (32 values per block for the ggml types, one block
// per weight group for Q8_GROUPED), each weight block is multiplied with it in int8 x int8 ->
// int32 arithmetic (VNNI's vpdpbusd where the CPU has it), and only the per-block sums are
// scaled in fp32. The result therefore differs from "dequantize, then fp32" by the activation
// quantization error (about 0.4 % of |x| per element, like llama2.c's runq.c), and from
// int8::reference::matvec (the same integer algorithm, scalar) only by the order of fp32
// additions. F16 and BF16 are converted to fp32 on the fly instead (no activation rounding).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "dtype/codec.hpp"
#include "model/tensor.hpp"

namespace llama2::int8 {

// ---- The product ------------------------------------------------------------------------
// What one of ops' matrix products (kernels/ops.hpp) needs for its non-F32 matrices: x
// quantized the way each matrix's kernel reads it, and that kernel. ops prepares it once per
// call on the calling thread, then every thread of the pool computes its share of rows with
// rows(): the thread split is ops's alone. Bit-identical for any split: every row is computed
// by one thread, the same way, and every token as if it were alone.
class Product {
 public:
  static constexpr std::size_t kMaxMatrices = 4;
  Product();
  ~Product();
  Product(const Product&) = delete;
  Product& operator=(const Product&) = delete;
  // For up to kMaxMatrices matrices that read the same x [n_tokens, cols] (nullptr entries are
  // skipped: the F32 matrices of a call): checks each one (Error for F32, or rows that are not
  // whole blocks), picks its kernel, and quantizes x once per distinct activation block and
  // width (q, k and v nearly always share one). With a pool, a prompt's tokens are quantized
  // in parallel.
  void prepare(std::span<const Tensor* const> weights, const float* x, int n_tokens, ThreadPool* pool);
  // y[t * W.rows + r] = W[r] . x[t] for matrix i, rows [row_begin, row_end), t < n_tokens.
  void rows(std::size_t i, float* y, std::int64_t row_begin, std::int64_t row_end) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Names of the kernel sets this CPU can run, best first ("avx512vnni", "avxvnni", "avx2",
// "neon-dotprod", "neon", "scalar"; "scalar" is always last and is int8::reference).
std::vector<std::string> available_kernels();
// The kernel set Product uses: the first of available_kernels() unless overridden.
const char* kernel_name();
// Forces a kernel set by name (tests and benchmarks compare them); "" restores the default.
// Throws Error for a name not in available_kernels(). Not thread-safe with running kernels.
void force_kernel(const std::string& name);

// The int8 multiply-add peak of the active kernel set's batch GEMM, for `llama2 bench`: runs
// `iterations` steps of independent chains of its instruction, each step `macs_per_iteration`
// multiply-adds, and returns a sum to keep. run is nullptr where the set has no GEMM.
struct DotProbe {
  std::int32_t (*run)(std::int64_t iterations, std::int32_t seed) = nullptr;
  int macs_per_iteration = 0;
};
DotProbe dot_probe();
// Whether a batch of n_tokens multiplies `w` with the active set's integer GEMM (so the int8
// peak, not the fp32 one, is its ceiling).
bool batch_uses_int8_gemm(const Tensor& w, int n_tokens);

namespace reference {
// The integer algorithm of the fast kernels, written as plain scalar loops: the spec and the
// test oracle. Quantizes x exactly like the fast kernels do.
void matvec(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end);
}  // namespace reference

}  // namespace llama2::int8
