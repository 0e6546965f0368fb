// A persistent pool of worker threads for the per-token hot path.
//
// Why not a parallel-for that starts threads (or a task queue) per call: one token of a
// 15M model is ~50 matrix-vector products of a few microseconds each, so any per-call cost
// of microseconds leaves cores idle (the seed measured exactly that with rayon). Here the
// workers stay alive and spin briefly on a generation counter between jobs, then sleep, so
// handing out a job costs one atomic store and joining it one atomic load.
//
// Work is split into contiguous, deterministic chunks, so every output element is computed by
// exactly one thread in the same order whatever the thread count: results are bit-identical
// for any --threads.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace llama2 {

class ThreadPool {
 public:
  // `n_threads` counts the calling thread too; 1 means fully sequential (no workers).
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) once on every thread (the caller is index 0) and
  // returns when all have finished.
  template <class F>
  void run(F&& fn) {
    if (n_threads_ == 1) {
      fn(0, 1);
      return;
    }
    auto thunk = [](void* ctx, int index, int count) { (*static_cast<F*>(ctx))(index, count); };
    dispatch(thunk, const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Splits [0, n) into size() contiguous ranges whose boundaries are multiples of `grain`
  // and calls fn(begin, end) for each non-empty one.
  template <class F>
  void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
    if (n <= 0) return;
    const std::int64_t blocks = (n + grain - 1) / grain;
    if (n_threads_ == 1 || blocks == 1) {
      fn(std::int64_t{0}, n);
      return;
    }
    run([&](int index, int count) {
      const std::int64_t per = blocks / count, extra = blocks % count;
      const std::int64_t first = index * per + std::min<std::int64_t>(index, extra);
      const std::int64_t mine = per + (index < extra ? 1 : 0);
      const std::int64_t begin = std::min(n, first * grain);
      const std::int64_t end = std::min(n, (first + mine) * grain);
      if (begin < end) fn(begin, end);
    });
  }

  // The number of hardware threads, at least 1.
  static int hardware_threads();

 private:
  using Thunk = void (*)(void*, int, int);
  void dispatch(Thunk thunk, void* ctx);
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  alignas(64) std::atomic<std::uint64_t> generation_{0};
  alignas(64) std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace llama2
