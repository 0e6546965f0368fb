// Micro-benchmarks of the kernels: the fast ops against the scalar reference, and the
// machine's read bandwidth as the ceiling for matvec.
//
//   build/bench/kernels_bench --benchmark_filter=Matvec
//
// Matvec reports bytes/s of weights read (compare with BM_ReadBandwidth: a matvec over a
// matrix larger than the caches cannot beat it); matmul reports FLOP/s (2 per multiply-add).
// Shapes are those of the llama2.c models: 288 / 768 (dim of stories15M / stories110M),
// 2048 (hidden_dim of stories110M), 32000 (vocab, the classifier).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "bench_support.hpp"
#include "core/thread_pool.hpp"
#include "kernels/ops.hpp"
#include "kernels/fp32/reference.hpp"

namespace llama2 {
namespace {

using bench::pool;
using bench::random_floats;

struct F32Matrix {
  std::vector<float> data;
  Tensor t;
  F32Matrix(std::int64_t rows, std::int64_t cols)
      : data(random_floats(static_cast<std::size_t>(rows * cols), 1)),
        t{DType::F32, data.data(), nullptr, rows, cols, 0} {}
};

// ---------------------------------------------------------------------------------------
// Matrix-vector products. Args: rows, cols, threads.

void MatvecShapes(benchmark::internal::Benchmark* b) {
  for (auto [rows, cols] : {std::pair{288, 288}, {768, 288}, {32000, 288}, {2048, 768}, {768, 2048}}) {
    for (int threads : {1, 2}) b->Args({rows, cols, threads});
  }
  b->ArgNames({"rows", "cols", "threads"});
}

void BM_Matvec(benchmark::State& state) {
  const F32Matrix m(state.range(0), state.range(1));
  bench::time_matvec(state, m.t, static_cast<int>(state.range(2)));
  state.SetLabel(ops::simd_target_name());
}
BENCHMARK(BM_Matvec)->Apply(MatvecShapes)->UseRealTime();

void BM_MatvecReference(benchmark::State& state) {
  const F32Matrix m(state.range(0), state.range(1));
  const auto x = random_floats(static_cast<std::size_t>(m.t.cols), 3);
  std::vector<float> y(static_cast<std::size_t>(m.t.rows));
  for (auto _ : state) {
    reference::matvec(m.t, x.data(), y.data(), 0, m.t.rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * m.t.bytes()));
}
BENCHMARK(BM_MatvecReference)->Args({288, 288})->Args({32000, 288})->Args({768, 2048})->UseRealTime();

// ---------------------------------------------------------------------------------------
// Batched matmul (prompt processing). Args: rows, cols, tokens, threads.

void set_flops(benchmark::State& state, const Tensor& w, std::int64_t tokens) {
  state.counters["FLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(w.rows * w.cols * tokens) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void MatmulShapes(benchmark::internal::Benchmark* b) {
  for (auto [rows, cols] : {std::pair{288, 288}, {768, 288}, {32000, 288}, {2048, 768}, {768, 2048}}) {
    for (int threads : {1, 2}) b->Args({rows, cols, 64, threads});
  }
  b->Args({768, 288, 8, 2})->Args({768, 288, 256, 2});
  // A server's batch of sequences (stories42M's widths): 8 and 16 tokens.
  for (int tokens : {8, 16}) b->Args({512, 512, tokens, 1})->Args({32000, 512, tokens, 1});
  b->ArgNames({"rows", "cols", "tokens", "threads"});
}

void BM_Matmul(benchmark::State& state) {
  const F32Matrix m(state.range(0), state.range(1));
  const std::int64_t tokens = state.range(2);
  const auto x = random_floats(static_cast<std::size_t>(tokens * m.t.cols), 3);
  std::vector<float> y(static_cast<std::size_t>(tokens * m.t.rows));
  ThreadPool& p = pool(static_cast<int>(state.range(3)));
  for (auto _ : state) {
    ops::matmul(m.t, x.data(), y.data(), static_cast<int>(tokens), p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, m.t, tokens);
  state.SetLabel(ops::simd_target_name());
}
BENCHMARK(BM_Matmul)->Apply(MatmulShapes)->UseRealTime();

void BM_MatmulReference(benchmark::State& state) {
  const F32Matrix m(state.range(0), state.range(1));
  const std::int64_t tokens = state.range(2);
  const auto x = random_floats(static_cast<std::size_t>(tokens * m.t.cols), 3);
  std::vector<float> y(static_cast<std::size_t>(tokens * m.t.rows));
  for (auto _ : state) {
    reference::matmul(m.t, x.data(), y.data(), static_cast<int>(tokens));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, m.t, tokens);
}
BENCHMARK(BM_MatmulReference)->Args({768, 288, 64})->UseRealTime();

// ---------------------------------------------------------------------------------------
// Vector kernels at transformer sizes: fast vs reference.

template <bool kFast>
void BM_Softmax(benchmark::State& state) {  // the sampler's softmax over the vocabulary
  const auto logits = random_floats(static_cast<std::size_t>(state.range(0)), 4);
  std::vector<float> x(logits.size());
  for (auto _ : state) {
    x = logits;
    constexpr auto kernel = kFast ? &ops::softmax : &reference::softmax;
    kernel(x.data(), static_cast<int>(x.size()));
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Softmax<true>)->Arg(32000);
BENCHMARK(BM_Softmax<false>)->Arg(32000);

template <bool kFast>
void BM_AttentionHead(benchmark::State& state) {  // head_size, positions; 6 kv heads per row
  const int head_size = static_cast<int>(state.range(0)), n_pos = static_cast<int>(state.range(1));
  const std::int64_t stride = 6 * head_size;
  const auto q = random_floats(static_cast<std::size_t>(head_size), 5);
  const auto k = random_floats(static_cast<std::size_t>(n_pos * stride), 6);
  const auto v = random_floats(static_cast<std::size_t>(n_pos * stride), 7);
  std::vector<float> scores(static_cast<std::size_t>(n_pos)), out(static_cast<std::size_t>(head_size));
  constexpr auto kernel = kFast ? &ops::attention_head : &reference::attention_head;
  for (auto _ : state) {
    kernel(q.data(), k.data(), v.data(), stride, head_size, n_pos, scores.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n_pos);
}
BENCHMARK(BM_AttentionHead<true>)->Args({48, 256})->Args({64, 1024});
BENCHMARK(BM_AttentionHead<false>)->Args({48, 256})->Args({64, 1024});

template <bool kFast>
void BM_SwigluRmsnormRope(benchmark::State& state) {  // the per-layer vector work of stories110M
  const int dim = 768, hidden = 2048, head_size = 64;
  auto h1 = random_floats(hidden, 8);
  const auto h3 = random_floats(hidden, 9), x = random_floats(dim, 10), w = random_floats(dim, 11);
  std::vector<float> out(dim);
  for (auto _ : state) {
    if constexpr (kFast) {
      ops::swiglu(h1.data(), h3.data(), hidden);
      ops::rmsnorm(out.data(), x.data(), w.data(), dim, 1e-5f);
      ops::rope(out.data(), dim, head_size, 100, RopeSpec{});
    } else {
      reference::swiglu(h1.data(), h3.data(), hidden);
      reference::rmsnorm(out.data(), x.data(), w.data(), dim, 1e-5f);
      reference::rope(out.data(), dim, head_size, 100, RopeSpec{});
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(h1.data());
  }
}
BENCHMARK(BM_SwigluRmsnormRope<true>);
BENCHMARK(BM_SwigluRmsnormRope<false>);

// ---------------------------------------------------------------------------------------
// Read bandwidth: a plain sum over 256 MB (far beyond any cache), split over the threads like
// matvec's rows. Integer adds so the compiler vectorises the loop without reassociation
// concerns; the loop is bound by memory, not by the adds.

void BM_ReadBandwidth(benchmark::State& state) {
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  static std::vector<std::uint64_t> buffer(kBytes / sizeof(std::uint64_t), 1);
  ThreadPool& p = pool(static_cast<int>(state.range(0)));
  const auto n = static_cast<std::int64_t>(buffer.size());
  std::uint64_t partial[8] = {};
  for (auto _ : state) {
    p.run([&](int index, int count) {
      const std::int64_t begin = n * index / count, end = n * (index + 1) / count;
      std::uint64_t sum = 0;
      for (std::int64_t i = begin; i < end; ++i) sum += buffer[i];
      partial[index] = sum;
    });
    benchmark::DoNotOptimize(partial);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

}  // namespace
}  // namespace llama2

BENCHMARK_MAIN();
