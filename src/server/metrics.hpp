// Counters, gauges and histograms of the server, rendered in the Prometheus text format for
// GET /metrics. Updated from the HTTP threads and the scheduler thread alike.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace llama2::server {

// A histogram with fixed upper bounds (Prometheus "le" buckets, +Inf implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends the _bucket, _sum and _count lines of `name`.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket (not cumulative); last one is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  // One finished HTTP request of `endpoint` ("completions", "chat", ...) with its status.
  void count_request(const std::string& endpoint, int status);
  // A request the scheduler finished: its token counts (`cached_tokens` of the prompt tokens
  // came from the prompt cache and were not fed again) and time to first token.
  void count_generation(int prompt_tokens, int generated_tokens, double ttft_seconds, int cached_tokens = 0);
  // One forward pass of the scheduler: sequences advanced and tokens fed.
  void observe_step(int sequences, int tokens);
  void set_queue_depth(int n);
  void set_active_slots(int n);
  void set_slots(int n);

  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0, steps_ = 0;
  int queue_depth_ = 0, active_slots_ = 0, slots_ = 0;
  Histogram batch_sequences_, batch_tokens_, ttft_;
};

}  // namespace llama2::server
