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
constexpr int task_count(std::uint64_t job) { return static_cast<int>(job & 0xFFFFFFFF); }
// Slot fields: tasks taken from the front and from the back of a segment.
constexpr int taken_front(std::uint64_t slot) { return static_cast<int>((slot >> 16) & 0xFFFF); }
constexpr int taken_back(std::uint64_t slot) { return static_cast<int>(slot & 0xFFFF); }

// A segment holds fewer tasks than this, so its two 16-bit counts cannot overflow.
constexpr int kMaxSegmentTasks = 1 << 15;
constexpr int kMaxThreads = 1 << 14;
}  // namespace

int ThreadPool::hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::clamp(n_threads, 1, kMaxThreads)), slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(n_threads_))) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  // An empty job with a new generation wakes every worker, which then sees stop_.
  const std::uint64_t old = job_.load(std::memory_order_relaxed);
  job_.store(static_cast<std::uint64_t>(generation(old) + 1) << 32, std::memory_order_release);
  job_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::claim(int owner, bool thief, std::uint32_t gen, int n_tasks) {
  const int first = static_cast<int>(static_cast<std::int64_t>(n_tasks) * owner / n_threads_);
  const int size = static_cast<int>(static_cast<std::int64_t>(n_tasks) * (owner + 1) / n_threads_) - first;
  if (size == 0) return -1;
  std::atomic<std::uint64_t>& taken = slots_[static_cast<std::size_t>(owner)].taken;
  std::uint64_t old = taken.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint32_t seen = generation(old);
    // Generations only grow (mod 2^32): a slot ahead of ours belongs to a later job.
    if (seen != gen && static_cast<std::int32_t>(seen - gen) > 0) return -1;
    const int front = seen == gen ? taken_front(old) : 0, back = seen == gen ? taken_back(old) : 0;
    if (front + back >= size) return -1;
    const std::uint64_t next = static_cast<std::uint64_t>(gen) << 32 |
                               static_cast<std::uint64_t>(front + (thief ? 0 : 1)) << 16 |
                               static_cast<std::uint64_t>(back + (thief ? 1 : 0));
    if (taken.compare_exchange_weak(old, next, std::memory_order_acq_rel, std::memory_order_relaxed))
      return thief ? first + size - 1 - back : first + front;
  }
}

std::uint32_t ThreadPool::work(int self, int& ran) {
  ran = 0;
  // Acquire: the job's publication makes thunk_/ctx_ visible; they stay valid as long as a task
  // of this job can still be claimed.
  const std::uint64_t job = job_.load(std::memory_order_acquire);
  const std::uint32_t gen = generation(job);
  const int n_tasks = task_count(job);
  for (int i = 0; i < n_threads_; ++i) {
    const int owner = (self + i) % n_threads_;
    for (int task; (task = claim(owner, i != 0, gen, n_tasks)) >= 0; ++ran) thunk_(ctx_, task, n_tasks);
  }
  return gen;
}

void ThreadPool::dispatch(Thunk thunk, void* ctx, int n_tasks) {
  if (n_tasks / n_threads_ >= kMaxSegmentTasks) throw Error("too many tasks for the thread pool");
  // Every task of the previous job is finished, so no thread reads thunk_/ctx_ now: a late
  // thread's claim sees the new generation (and runs a task of it) or finds none left.
  thunk_ = thunk;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const std::uint64_t old = job_.load(std::memory_order_relaxed);
  job_.store(static_cast<std::uint64_t>(generation(old) + 1) << 32 | static_cast<std::uint64_t>(n_tasks),
             std::memory_order_release);
  job_.notify_all();
  int ran = 0;
  work(0, ran);
  // Only tasks that other threads claimed and are running remain.
  const int others = n_tasks - ran;
  while (!spin_then_yield([&] { return done_.load(std::memory_order_acquire) == others; })) {
  }
}

void ThreadPool::worker_loop(int self) {
  std::uint32_t seen = 0;
  for (;;) {
    // Checked on every turn, not only when a new generation appears: a worker whose work()
    // read the shutdown job records the shutdown generation as seen, and would otherwise wait
    // for a job that never comes. That job was published after stop_ was set, so stop_ is
    // visible here.
    if (stop_.load(std::memory_order_acquire)) return;
    std::uint64_t job = job_.load(std::memory_order_acquire);
    if (generation(job) == seen) {
      if (!spin_then_yield([&] { return generation(job_.load(std::memory_order_acquire)) != seen; }))
        job_.wait(job, std::memory_order_acquire);  // wakes on any change; the loop re-checks
      continue;
    }
    int ran = 0;
    seen = work(self, ran);
    // One count per worker and job, not one per task: each update moves done_'s cache line
    // to this core and back to the waiting caller, which costs more than a small task.
    if (ran > 0) done_.fetch_add(ran, std::memory_order_release);
  }
}

}  // namespace llama2
