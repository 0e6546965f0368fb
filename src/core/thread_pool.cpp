#include "core/thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace llama2 {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
// Waiting is spin, then yield, then sleep. Pure spinning covers the microsecond gaps between
// the matrix-vector products of one token. Yielding next matters when there are more
// threads than free cores (a busy machine, or --threads above the core count): a thread
// spinning for a peer that is not scheduled would otherwise burn its whole time slice.
// Sleeping (atomic wait) stops an idle pool from using any CPU.
constexpr int kSpinIterations = 2000;
constexpr int kYieldIterations = 20000;

// Spins, then yields, until pred() holds or the budget runs out; returns pred().
template <class Pred>
bool spin_then_yield(Pred pred) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (pred()) return true;
    cpu_relax();
  }
  for (int i = 0; i < kYieldIterations; ++i) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}
}  // namespace

int ThreadPool::hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::dispatch(Thunk thunk, void* ctx) {
  thunk_ = thunk;
  ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);  // publishes thunk_/ctx_
  generation_.notify_all();
  thunk(ctx, 0, n_threads_);
  while (!spin_then_yield([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
  }
}

void ThreadPool::worker_loop(int index) {
  std::uint64_t seen = 0;
  for (;;) {
    if (!spin_then_yield([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    thunk_(ctx_, index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace llama2
