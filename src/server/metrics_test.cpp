#include "server/metrics.hpp"

#include <gtest/gtest.h>

namespace llama2::server {
namespace {

TEST(Metrics, PrometheusText) {
  Metrics m;
  m.set_slots(4);
  m.count_request("completions", 200);
  m.count_request("completions", 200);
  m.count_request("chat", 400);
  m.count_generation(10, 20, 0.03, 6);
  m.observe_step(3, 3);
  m.observe_step(1, 40);
  m.set_queue_depth(2);
  m.set_active_slots(3);
  const std::string text = m.render();
  for (const char* line : {
           "llama2_requests_total{endpoint=\"completions\",code=\"200\"} 2\n",
           "llama2_requests_total{endpoint=\"chat\",code=\"400\"} 1\n",
           "llama2_prompt_tokens_total 10\n",
           "llama2_prompt_tokens_cached_total 6\n",
           "llama2_generated_tokens_total 20\n",
           "llama2_queue_depth 2\n",
           "llama2_active_slots 3\n",
           "llama2_slots 4\n",
           "llama2_forward_passes_total 2\n",
           // buckets are cumulative
           "llama2_batch_sequences_bucket{le=\"1\"} 1\n",
           "llama2_batch_sequences_bucket{le=\"2\"} 1\n",
           "llama2_batch_sequences_bucket{le=\"4\"} 2\n",
           "llama2_batch_sequences_bucket{le=\"+Inf\"} 2\n",
           "llama2_batch_sequences_sum 4\n",
           "llama2_batch_tokens_bucket{le=\"32\"} 1\n",
           "llama2_batch_tokens_bucket{le=\"64\"} 2\n",
           "llama2_time_to_first_token_seconds_bucket{le=\"0.025\"} 0\n",
           "llama2_time_to_first_token_seconds_bucket{le=\"0.05\"} 1\n",
           "# TYPE llama2_batch_sequences histogram\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

}  // namespace
}  // namespace llama2::server
