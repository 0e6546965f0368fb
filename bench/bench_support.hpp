// What the micro-benchmarks share: random inputs, one persistent pool per thread count, and
// the timed matvec loop.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "core/thread_pool.hpp"
#include "kernels/ops.hpp"

namespace llama2::bench {

// n values, normally distributed with standard deviation `scale`.
inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// One persistent pool per thread count, as the transformer keeps one for its lifetime.
inline ThreadPool& pool(int n_threads) {
  static std::unique_ptr<ThreadPool> pools[8];
  auto& p = pools[n_threads];
  if (!p) p = std::make_unique<ThreadPool>(n_threads);
  return *p;
}

// Times ops::matvec(w, x) on `threads` threads; reports the weight bytes read per second and
// the weights (multiply-adds) per second.
inline void time_matvec(benchmark::State& state, const Tensor& w, int threads) {
  const auto x = random_floats(static_cast<std::size_t>(w.cols), 3);
  std::vector<float> y(static_cast<std::size_t>(w.rows));
  ThreadPool& p = pool(threads);
  for (auto _ : state) {
    ops::matvec(w, x.data(), y.data(), p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * w.bytes()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.size()));
}

}  // namespace llama2::bench
