#include "core/thread_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace llama2 {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    for (std::int64_t n : {1, 5, 63, 64, 65, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      pool.parallel_for(n, 8, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
      });
      for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << n << " " << i;
    }
  }
}

TEST(ThreadPool, RunCallsEachIndexOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(4);
  pool.run([&](int index, int count) {
    EXPECT_EQ(count, 4);
    hits[static_cast<std::size_t>(index)].fetch_add(1);
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

// The ranges of a job depend on n, grain and the pool size only: recorded twice, they are the
// same; they are whole grains (but the last) and cover [0, n) once.
TEST(ThreadPool, RangesDependOnlyOnTheJob) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (std::int64_t n : {7, 100, 1000, 4099}) {
      std::vector<std::pair<std::int64_t, std::int64_t>> first;
      for (int round = 0; round < 20; ++round) {
        std::mutex m;
        std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
        pool.parallel_for(n, 16, [&](std::int64_t b, std::int64_t e) {
          std::lock_guard<std::mutex> lock(m);
          ranges.emplace_back(b, e);
        });
        std::sort(ranges.begin(), ranges.end());
        std::int64_t at = 0;
        for (auto [b, e] : ranges) {
          EXPECT_EQ(b, at);
          EXPECT_TRUE(e % 16 == 0 || e == n) << e;
          at = e;
        }
        EXPECT_EQ(at, n);
        if (round == 0) first = ranges;
        else EXPECT_EQ(ranges, first) << "threads " << threads << " n " << n;
      }
    }
  }
}

// A thread that stops inside a task (as if descheduled) leaves the rest of its share to the
// others: here the task holding index 0 waits until every other index is done, which only
// happens if the other threads steal the caller's remaining pieces. A hang fails the test.
TEST(ThreadPool, OthersStealTheShareOfAStalledThread) {
  auto done = std::async(std::launch::async, [] {
    for (int threads : {2, 3, 4}) {
      ThreadPool pool(threads);
      constexpr std::int64_t kN = 4096;
      std::atomic<std::int64_t> finished{0};
      std::atomic<bool> gave_up{false};
      pool.parallel_for(kN, 1, [&](std::int64_t b, std::int64_t e) {
        if (b == 0) {
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (finished.load() < kN - e && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
          if (finished.load() < kN - e) gave_up = true;
        }
        finished += e - b;
      });
      if (gave_up.load() || finished.load() != kN) return false;
    }
    return true;
  });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: a stalled thread's share was never taken over\n");
    std::_Exit(1);
  }
  EXPECT_TRUE(done.get());
}

// Destroying a pool right after a job, while a worker may still be between finishing its last
// task and noticing that no task is left, must not hang (a worker that claimed on the shutdown
// job once went back to sleep and was never woken). More threads than cores makes the
// preemption that exposes it likely; the whole loop runs in a thread so a hang fails the test.
TEST(ThreadPool, DestroyRightAfterAJobNeverHangs) {
  auto done = std::async(std::launch::async, [] {
    for (int round = 0; round < 3000; ++round) {
      ThreadPool pool(2 + round % 5);
      std::atomic<int> sum{0};
      pool.parallel_for(64, 1, [&](std::int64_t b, std::int64_t e) { sum += static_cast<int>(e - b); });
      if (sum.load() != 64) return false;
    }
    return true;
  });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    // The hung pool cannot be joined, so report and leave at once instead of hanging too.
    std::fprintf(stderr, "FAILED: thread pool shutdown hung\n");
    std::_Exit(1);
  }
  EXPECT_TRUE(done.get());
}

}  // namespace
}  // namespace llama2
