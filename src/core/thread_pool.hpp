// A persistent pool of worker threads for the per-token hot path.
//
// Why not a parallel-for that starts threads (or a task queue) per call: one token of a
// 15M model is ~50 matrix-vector products of a few microseconds each, so any per-call cost
// of microseconds leaves cores idle (the seed measured exactly that with rayon). Here the
// workers stay alive and spin briefly between jobs, then yield, then sleep, so handing out a
// job costs one atomic store and claiming a task one atomic add.
//
// A job is a fixed list of tasks that threads *claim* (the caller too) rather than one task
// per thread assigned up front. That matters whenever some thread is not running — a machine
// busy with other work, or more threads than free cores: with fixed assignment the caller
// would wait a whole scheduler time slice for a descheduled worker's share; here the running
// threads take that share, and the caller waits only for tasks already underway.
//
// Task boundaries are contiguous and depend only on the job (n, grain, pool size), never on
// which thread runs a task; and the kernels compute each output element the same way
// whatever range it falls in. So results are bit-identical for any --threads.
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
  // fn(begin, end) for each, concurrently. There are a few ranges per thread, so threads that
  // run can take over the share of threads that do not; when there are enough grains, the
  // last quarter of the work is cut into ranges half as long (or shorter), so the threads
  // finish close together. The ranges depend on n, grain and size() only.
  template <class F>
  void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
    if (n <= 0) return;
    const std::int64_t blocks = (n + grain - 1) / grain;
    if (n_threads_ == 1 || blocks == 1) {
      fn(std::int64_t{0}, n);
      return;
    }
    const std::int64_t threads = n_threads_;
    const std::int64_t head_tasks = threads * kTasksPerThread / 2, tail_tasks = threads * kTasksPerThread;
    const bool taper = blocks >= 2 * (head_tasks + tail_tasks);
    const std::int64_t head_blocks = taper ? blocks * 3 / 4 : blocks;
    const std::int64_t tasks = taper ? head_tasks + tail_tasks : std::min(blocks, threads * kTasksPerThread);
    // First block of task i: the head's blocks split evenly over its tasks, then the tail's.
    auto first_block = [=](std::int64_t i) -> std::int64_t {
      if (!taper) return blocks * i / tasks;
      if (i <= head_tasks) return head_blocks * i / head_tasks;
      return head_blocks + (blocks - head_blocks) * (i - head_tasks) / tail_tasks;
    };
    auto body = [&](int task, int) {
      const std::int64_t begin = std::min(n, first_block(task) * grain);
      const std::int64_t end = std::min(n, first_block(task + 1) * grain);
      if (begin < end) fn(begin, end);
    };
    auto thunk = [](void* ctx, int index, int count) { (*static_cast<decltype(body)*>(ctx))(index, count); };
    dispatch(thunk, &body, static_cast<int>(tasks));
  }

  // The number of hardware threads, at least 1.
  static int hardware_threads();

 private:
  // Tasks per thread in parallel_for: enough that the running threads can absorb the share of
  // one that is descheduled in small pieces, few enough that claiming costs little.
  static constexpr int kTasksPerThread = 4;

  using Thunk = void (*)(void*, int, int);
  // Publishes a job of n_tasks tasks, runs tasks itself until none is left to claim, then waits
  // for the ones other threads are running.
  void dispatch(Thunk thunk, void* ctx, int n_tasks);
  // Claims and runs tasks of the current job until none is left; returns the generation seen
  // and sets `ran` to the number of tasks run.
  std::uint32_t work(int& ran);
  void worker_loop();

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job, written by dispatch() before it publishes job_, and read by a thread only
  // after it has claimed one of the job's tasks (the job cannot change before that task is done).
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  // generation (32 bits) | task count (16) | next unclaimed task (16). Claiming is one
  // fetch_add: it returns the task index, or a value >= the count when none is left. The
  // generation tells sleeping workers that a new job exists.
  alignas(64) std::atomic<std::uint64_t> job_{0};
  alignas(64) std::atomic<int> done_{0};  // tasks of the current job finished by workers
  std::atomic<bool> stop_{false};
};

}  // namespace llama2
