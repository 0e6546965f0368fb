// A persistent pool of worker threads for the per-token hot path.
//
// Why not a parallel-for that starts threads (or a task queue) per call: one token of a
// 15M model is ~50 matrix-vector products of a few microseconds each, so any per-call cost
// of microseconds leaves cores idle (the seed measured exactly that with rayon). Here the
// workers stay alive and spin briefly between jobs, then yield, then sleep, so handing out a
// job costs one atomic store and claiming a task one compare-exchange on a cache line of
// the claiming thread's own.
//
// A job is a fixed list of tasks, cut into one contiguous segment per thread (the caller's is
// segment 0). Each thread runs its own segment front to back, then *steals* from the back of
// the others'. Claiming from one's own segment touches only that thread's cache line, and each
// thread reads one contiguous part of a matrix. (With one shared counter, as before, every
// claim moved the counter's line between the cores, and the threads' pieces interleaved: 2
// threads generated 13-19 % slower on the 110M q8_0/q4_k shapes.) Stealing matters whenever
// some thread is not running — a machine busy with other work, or more threads than free
// cores: the running threads take that share, and the caller waits only for tasks already
// underway.
//
// Task boundaries are contiguous and depend only on the job (n, grain, pool size), never on
// which thread runs a task; and the kernels compute each output element the same way
// whatever range it falls in. So results are bit-identical for any --threads.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
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

  // Calls fn(index, size()) once for every index < size(), spread over the threads (the
  // caller takes part), and returns when all have finished. Calls run concurrently, each index
  // exactly once, so per-index scratch needs no locking; one thread may run several indices
  // when others are busy elsewhere.
  template <class F>
  void run(F&& fn) {
    if (n_threads_ == 1) {
      fn(0, 1);
      return;
    }
    auto thunk = [](void* ctx, int index, int count) { (*static_cast<F*>(ctx))(index, count); };
    dispatch(thunk, const_cast<void*>(static_cast<const void*>(&fn)), n_threads_);
  }

  // Splits [0, n) into contiguous ranges whose boundaries are multiples of `grain` and calls
  // fn(begin, end) for each, concurrently. Each thread's segment is an equal share of the
  // grains, cut into tasks of 1/2, 1/4, 1/8 ... of it: the owner streams through its share in
  // order, and a thread that finishes early steals the small pieces at the far end. The ranges
  // depend on n, grain and size() only.
  template <class F>
  void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
    if (n <= 0) return;
    const std::int64_t blocks = (n + grain - 1) / grain;
    if (n_threads_ == 1 || blocks == 1) {
      fn(std::int64_t{0}, n);
      return;
    }
    const std::int64_t threads = n_threads_;
    // First block of piece k of a segment of s blocks: s - s / 2^k (the last piece ends at s).
    auto piece_start = [](std::int64_t s, int k) { return k >= kTasksPerThread ? s : s - (s >> k); };
    // With size() * kTasksPerThread tasks, claim() gives thread t the tasks t * kTasksPerThread
    // onward, so task i is piece i % kTasksPerThread of segment i / kTasksPerThread.
    auto body = [&](int task, int) {
      const std::int64_t segment = task / kTasksPerThread, k = task % kTasksPerThread;
      const std::int64_t first = blocks * segment / threads, size = blocks * (segment + 1) / threads - first;
      const std::int64_t begin = std::min(n, (first + piece_start(size, static_cast<int>(k))) * grain);
      const std::int64_t end = std::min(n, (first + piece_start(size, static_cast<int>(k) + 1)) * grain);
      if (begin < end) fn(begin, end);
    };
    auto thunk = [](void* ctx, int index, int count) { (*static_cast<decltype(body)*>(ctx))(index, count); };
    dispatch(thunk, &body, n_threads_ * kTasksPerThread);
  }

  // The number of hardware threads, at least 1.
  static int hardware_threads();

 private:
  // Pieces per thread in parallel_for: 1/2, 1/4, 1/8, 1/16, 1/16 of its share, so a thread that
  // is ahead steals pieces of 1/16, and one that is descheduled loses its share in a few steals.
  static constexpr int kTasksPerThread = 5;

  using Thunk = void (*)(void*, int, int);
  // Publishes a job of n_tasks tasks, runs tasks itself until none is left to claim, then waits
  // for the ones other threads are running.
  void dispatch(Thunk thunk, void* ctx, int n_tasks);
  // Claims and runs tasks of the current job until none is left, its own segment first, then
  // the others'; returns the generation seen and sets `ran` to the number of tasks run.
  std::uint32_t work(int self, int& ran);
  // The next task of thread `owner`'s segment in job `generation` of n_tasks: from the front for
  // the owner, from the back for a thief; -1 when none is left (or a newer job has started).
  int claim(int owner, bool thief, std::uint32_t generation, int n_tasks);
  void worker_loop(int self);

  int n_threads_;
  std::vector<std::thread> workers_;
  // generation (32 bits) | task count (32). The generation tells workers that a new job exists.
  alignas(64) std::atomic<std::uint64_t> job_{0};
  // The current job, written by dispatch() before it publishes job_, and read by a thread only
  // after it has claimed one of the job's tasks (the job cannot change before that task is done).
  // On job_'s cache line, so that a worker gets all three in one transfer, and so that these
  // writes do not take away the line of n_threads_, which every claim reads.
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  alignas(64) std::atomic<int> done_{0};  // tasks of the current job finished by workers
  std::atomic<bool> stop_{false};
  // Per thread, on its own cache line: generation (32 bits) | tasks taken from the front (16)
  // | from the back (16) of its segment. A slot still holding an older generation is untouched
  // in this job; a newer one means the job this thread is working on is over.
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> taken{0};
  };
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace llama2
