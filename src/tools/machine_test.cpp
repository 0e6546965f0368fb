// The machine measurements and bench helpers behind `llama2 bench`: sane, positive numbers.
#include "tools/machine.hpp"

#include <gtest/gtest.h>

#include "tools/bench.hpp"

namespace llama2::tools {
namespace {

TEST(Machine, CpuModelNameIsNotEmpty) { EXPECT_FALSE(cpu_model_name().empty()); }

TEST(Machine, ReadBandwidthIsPositiveAndPlausible) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    const double bw = ReadBandwidthProbe(pool, std::size_t{32} << 20).measure(pool, 2);
    EXPECT_GT(bw, 1e8) << threads << " threads";   // above 100 MB/s even under sanitizers
    EXPECT_LT(bw, 1e13) << threads << " threads";  // below 10 TB/s: no machine reads faster
  }
}

TEST(Machine, BandwidthProbeIsResidentAndReadsAgain) {
  ThreadPool pool(2);
  const std::size_t bytes = std::size_t{24} << 20;
  const ReadBandwidthProbe probe(pool, bytes);
  // Every page is touched up front, so that the readings below only read.
  EXPECT_EQ(probe.resident_bytes(), bytes);
  for (int threads : {1, 2}) {
    ThreadPool readers(threads);
    for (int i = 0; i < 2; ++i) {
      const double bw = probe.measure(readers, 1);
      EXPECT_GT(bw, 1e8) << threads << " threads";
      EXPECT_LT(bw, 1e13) << threads << " threads";
    }
  }
  // The bench subtracts the probe from the process's resident memory: that must leave the rest.
  EXPECT_GE(current_rss_bytes(), probe.resident_bytes());
}

TEST(Machine, PeakFlopsIsPositiveAndPlausible) {
  ThreadPool pool(2);
  const double flops = measure_peak_flops(pool, 0.01, 2);
  EXPECT_GT(flops, 1e7);
  EXPECT_LT(flops, 1e14);
}

TEST(Machine, RssIsReported) {
  // Current first: the process may grow between the two reads (it did under qemu), and the
  // peak read second then covers it.
  const std::uint64_t current = current_rss_bytes();
  EXPECT_GT(current, 0u);
  EXPECT_GE(peak_rss_bytes(), current);
}

TEST(Bench, SummarizeGivesMedianSpreadAndRange) {
  const Stats s = summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_NEAR(s.stddev, 1.2909944, 1e-6);
  EXPECT_DOUBLE_EQ(summarize({7}).stddev, 0);
}

TEST(Bench, PromptFlopsCountsMatricesAttentionAndOneClassifier) {
  Config c;
  c.dim = 8, c.hidden_dim = 16, c.n_layers = 2, c.n_heads = 2, c.n_kv_heads = 1, c.vocab_size = 10, c.seq_len = 32;
  // Per token and layer: wq, wo 8x8; wk, wv 4x8; w1, w2, w3 8x16 -> 64+64+32+32+384 = 576 weights.
  const double matrices = 2.0 * 2 * 576;
  // Positions 0 and 1: 4 * dim * (pos + 1) per layer.
  const double attention = 2 * 4 * 8 * (1 + 2);
  EXPECT_DOUBLE_EQ(prompt_flops(c, 2), 2 * matrices + attention + 2 * 8 * 10);
}

TEST(Bench, TokensAvoidSpecialIds) {
  for (TokenId t : bench_tokens(100, 512)) {
    EXPECT_GE(t, 3);
    EXPECT_LT(t, 512);
  }
}

}  // namespace
}  // namespace llama2::tools
