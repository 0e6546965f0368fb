// Quantized matvec against fp32: bytes of weights read per second (scales included), so a type
// that reads fewer bytes per weight wins as long as its kernel keeps up with memory.
//
//   build/bench/quant_bench --benchmark_filter='Matvec/q8_0' --benchmark_repetitions=5
//   build/bench/quant_bench --benchmark_filter='Matmul/.*tokens:128'   (prompt batches)
//
// Benchmarks are named Matvec/<type>/<kernel set> with args rows, cols, threads; shapes are
// stories110M's (768 = dim, 2048 = hidden_dim, 32000 = vocab). Every kernel set this CPU has
// is measured for Q8_0 and Q8_GROUPED (avx512vnni / avxvnni / avx2 / scalar); the other types
// use the default.
// "items" per second are weights (multiply-adds) per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "core/thread_pool.hpp"
#include "kernels/ops.hpp"
#include "kernels/int8/int8_kernels.hpp"

namespace llama2 {
namespace {

using bench::pool;
using bench::random_floats;

struct Matrix {
  std::vector<float> f32;
  std::vector<std::uint8_t> blocks;
  std::vector<std::int8_t> q8;
  std::vector<float> scales;
  Tensor t;

  Matrix(DType type, std::int64_t rows, std::int64_t cols) {
    const auto src = random_floats(static_cast<std::size_t>(rows * cols), 1, 0.03f);
    if (type == DType::F32) {
      f32 = src;
      t = Tensor{type, f32.data(), nullptr, rows, cols, 0};
    } else if (type == DType::Q8_GROUPED) {
      constexpr int kGroup = 64;  // llama2.c's default
      q8.resize(src.size());
      scales.resize(src.size() / kGroup);
      quant::quantize_q8_grouped(src.data(), q8.data(), scales.data(), rows * cols, kGroup);
      t = Tensor{type, q8.data(), scales.data(), rows, cols, kGroup};
    } else {
      const std::uint64_t rb = quant::row_bytes(type, cols);
      blocks.resize(rows * rb);
      for (std::int64_t r = 0; r < rows; ++r) quant::quantize_row(type, src.data() + r * cols, blocks.data() + r * rb, cols);
      t = Tensor{type, blocks.data(), nullptr, rows, cols, 0};
    }
  }
};

void run_matvec(benchmark::State& state, DType type, const std::string& kernel) {
  int8::force_kernel(kernel);
  const Matrix m(type, state.range(0), state.range(1));
  bench::time_matvec(state, m.t, static_cast<int>(state.range(2)));
  int8::force_kernel("");
}

void shapes(benchmark::internal::Benchmark* b) {
  for (auto [rows, cols] : {std::pair{768, 768}, {2048, 768}, {768, 2048}, {32000, 768}})
    for (int threads : {1, 2}) b->Args({rows, cols, threads});
  b->ArgNames({"rows", "cols", "threads"});
  b->UseRealTime();
}

// A batch (a prompt): ops::matmul of `tokens` tokens on one thread; items are multiply-adds.
// The quantized types go through the GEMM (gemm.hpp) where the kernel set has one, else one
// token at a time through the row kernels (the avx2 and scalar sets).
void run_matmul(benchmark::State& state, DType type, const std::string& kernel) {
  int8::force_kernel(kernel);
  const Matrix m(type, state.range(0), state.range(1));
  const int tokens = static_cast<int>(state.range(2));
  const auto x = random_floats(static_cast<std::size_t>(m.t.cols * tokens), 3);
  std::vector<float> y(static_cast<std::size_t>(m.t.rows * tokens));
  ThreadPool& p = pool(1);
  for (auto _ : state) {
    ops::matmul(m.t, x.data(), y.data(), tokens, p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * m.t.size() * tokens));
  int8::force_kernel("");
}

void batch_shapes(benchmark::internal::Benchmark* b) {
  for (auto [rows, cols] : {std::pair{768, 768}, {2048, 768}, {768, 2048}})
    for (int tokens : {8, 16, 128}) b->Args({rows, cols, tokens});
  b->ArgNames({"rows", "cols", "tokens"});
  b->UseRealTime();
}

// Registered at start-up, since the kernel sets depend on the CPU.
const bool registered = [] {
  const std::pair<DType, const char*> types[] = {{DType::F32, "f32"},   {DType::Q8_GROUPED, "q8_grouped"},
                                                 {DType::Q8_0, "q8_0"}, {DType::Q4_0, "q4_0"},
                                                 {DType::Q4_K, "q4_k"}, {DType::Q6_K, "q6_k"}};
  for (auto [type, name] : types) {
    const std::string base = std::string("Matvec/") + name;
    if (type == DType::Q8_0 || type == DType::Q8_GROUPED) {
      for (const std::string& k : int8::available_kernels())
        benchmark::RegisterBenchmark((base + "/" + k).c_str(), [type, k](benchmark::State& s) { run_matvec(s, type, k); })
            ->Apply(shapes);
    } else {
      const std::string k = type == DType::F32 ? "highway" : int8::kernel_name();
      benchmark::RegisterBenchmark((base + "/" + k).c_str(), [type](benchmark::State& s) { run_matvec(s, type, ""); })
          ->Apply(shapes);
    }
  }
  benchmark::RegisterBenchmark("Matmul/f32/highway", [](benchmark::State& s) { run_matmul(s, DType::F32, ""); })
      ->Apply(batch_shapes);
  for (auto [type, name] : types) {
    if (type == DType::F32) continue;
    for (const std::string& k : int8::available_kernels()) {
      if (k == "scalar" || k == "avxvnni") continue;
      benchmark::RegisterBenchmark((std::string("Matmul/") + name + "/" + k).c_str(),
                                   [type, k](benchmark::State& s) { run_matmul(s, type, k); })
          ->Apply(batch_shapes);
    }
  }
  return true;
}();

}  // namespace
}  // namespace llama2

BENCHMARK_MAIN();
