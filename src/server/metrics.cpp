#include "server/metrics.hpp"

#include <cstdio>

namespace llama2::server {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(const std::string& name, std::string& out) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : batch_sequences_({1, 2, 4, 8, 16, 32, 64}),
      batch_tokens_({1, 2, 4, 8, 16, 32, 64, 128, 256}),
      ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_generation(int prompt_tokens, int generated_tokens, double ttft_seconds, int cached_tokens) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt_tokens;
  cached_tokens_ += cached_tokens;
  generated_tokens_ += generated_tokens;
  if (generated_tokens > 0) ttft_.observe(ttft_seconds);
}

void Metrics::observe_step(int sequences, int tokens) {
  std::lock_guard lock(mutex_);
  ++steps_;
  batch_sequences_.observe(sequences);
  batch_tokens_.observe(tokens);
}

void Metrics::set_queue_depth(int n) {
  std::lock_guard lock(mutex_);
  queue_depth_ = n;
}
void Metrics::set_active_slots(int n) {
  std::lock_guard lock(mutex_);
  active_slots_ = n;
}
void Metrics::set_slots(int n) {
  std::lock_guard lock(mutex_);
  slots_ = n;
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  header(out, "llama2_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    out += "llama2_requests_total{endpoint=\"" + key.first + "\",code=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  header(out, "llama2_prompt_tokens_total", "counter", "Prompt tokens processed.");
  out += "llama2_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
  header(out, "llama2_prompt_tokens_cached_total", "counter",
         "Prompt tokens whose KV cache rows were reused from an earlier request (not fed again).");
  out += "llama2_prompt_tokens_cached_total " + std::to_string(cached_tokens_) + "\n";
  header(out, "llama2_generated_tokens_total", "counter", "Tokens generated.");
  out += "llama2_generated_tokens_total " + std::to_string(generated_tokens_) + "\n";
  header(out, "llama2_forward_passes_total", "counter", "Batched forward passes run by the scheduler.");
  out += "llama2_forward_passes_total " + std::to_string(steps_) + "\n";
  header(out, "llama2_queue_depth", "gauge", "Requests waiting for a free slot.");
  out += "llama2_queue_depth " + std::to_string(queue_depth_) + "\n";
  header(out, "llama2_active_slots", "gauge", "Slots generating a reply.");
  out += "llama2_active_slots " + std::to_string(active_slots_) + "\n";
  header(out, "llama2_slots", "gauge", "Slots (sequences generated in parallel, --parallel).");
  out += "llama2_slots " + std::to_string(slots_) + "\n";
  header(out, "llama2_batch_sequences", "histogram", "Sequences advanced per forward pass.");
  batch_sequences_.render("llama2_batch_sequences", out);
  header(out, "llama2_batch_tokens", "histogram", "Tokens (prompt and generated) per forward pass.");
  batch_tokens_.render("llama2_batch_tokens", out);
  header(out, "llama2_time_to_first_token_seconds", "histogram", "From arrival to the first generated token.");
  ttft_.render("llama2_time_to_first_token_seconds", out);
  return out;
}

}  // namespace llama2::server
