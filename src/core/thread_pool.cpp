#include "core/thread_pool.hpp"

#include "core/error.hpp"

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
constexpr int kYieldIterations = 200;

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

constexpr std::uint32_t generation(std::uint64_t job) { return static_cast<std::uint32_t>(job >> 32); }
constexpr int task_count(std::uint64_t job) { return static_cast<int>((job >> 16) & 0xFFFF); }
constexpr int next_task(std::uint64_t job) { return static_cast<int>(job & 0xFFFF); }

// Tasks per job stay below this, so the next-task field (which failed claims push past the
// count, at most once per thread and job) cannot carry into the count.
constexpr int kMaxTasks = 1 << 14;
constexpr int kMaxThreads = 1 << 14;
}  // namespace

int ThreadPool::hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, kMaxThreads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  // An empty job with a new generation wakes every worker, which then sees stop_.
  const std::uint64_t old = job_.load(std::memory_order_relaxed);
  job_.store(static_cast<std::uint64_t>(generation(old) + 1) << 32, std::memory_order_release);
  job_.notify_all();
  for (auto& t : workers_) t.join();
}

std::uint32_t ThreadPool::work(int& ran) {
  ran = 0;
  for (;;) {
    // acq_rel: acquiring the job's publication makes thunk_/ctx_ visible once a task is ours.
    const std::uint64_t claim = job_.fetch_add(1, std::memory_order_acq_rel);
    const int task = next_task(claim), count = task_count(claim);
    if (task >= count) return generation(claim);
    thunk_(ctx_, task, count);
    ++ran;
  }
}

void ThreadPool::dispatch(Thunk thunk, void* ctx, int n_tasks) {
  if (n_tasks > kMaxTasks) throw Error("too many tasks for the thread pool");
  // Every task of the previous job is finished, so no thread reads thunk_/ctx_ now: a late
  // thread's claim lands on the new job (and runs a task of it) or finds none left.
  thunk_ = thunk;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const std::uint64_t old = job_.load(std::memory_order_relaxed);
  const std::uint64_t job = (static_cast<std::uint64_t>(generation(old) + 1) << 32) |
                            (static_cast<std::uint64_t>(n_tasks) << 16);
  job_.store(job, std::memory_order_release);
  job_.notify_all();
  int ran = 0;
  work(ran);
  // Only tasks that other threads claimed and are running remain.
  const int others = n_tasks - ran;
  while (!spin_then_yield([&] { return done_.load(std::memory_order_acquire) == others; })) {
  }
}

void ThreadPool::worker_loop() {
  std::uint32_t seen = 0;
  for (;;) {
    // Checked on every turn, not only when a new generation appears: a worker whose last
    // (failing) claim of a job lands on the shutdown job records the shutdown generation as
    // seen, and would otherwise wait for a job that never comes. The claim read the shutdown
    // job, which was published after stop_ was set, so stop_ is visible here.
    if (stop_.load(std::memory_order_acquire)) return;
    std::uint64_t job = job_.load(std::memory_order_acquire);
    if (generation(job) == seen) {
      if (!spin_then_yield([&] { return generation(job_.load(std::memory_order_acquire)) != seen; }))
        job_.wait(job, std::memory_order_acquire);  // wakes on any change; the loop re-checks
      continue;
    }
    int ran = 0;
    seen = work(ran);
    // One count per worker and job, not one per task: each update moves done_'s cache line
    // to this core and back to the waiting caller, which costs more than a small task.
    if (ran > 0) done_.fetch_add(ran, std::memory_order_release);
  }
}

}  // namespace llama2
