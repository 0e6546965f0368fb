// `llama2 bench` end to end on stories260K (the published shapes are too slow for a test).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "dtype/dtype.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "model/model.hpp"
#include "tools/bench.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

using testing::data_path;
using testing::quote;
using testing::run_cli;

// The speculative rows: the kept fraction, and a rate set against the same bandwidth roofline
// as plain generation (weight bytes per token x tok/s / the reading beside each repetition).
// The model as its own draft proposes its own greedy tokens: every draft is kept.
TEST(BenchCli, SpeculativeRowsReportKeptDraftsAndTheRoofline) {
  const std::string model = quote(data_path("models/stories260K.bin"));
  const auto r = run_cli("bench -m " + model + " -p 0 -n 24 -r 2 -t 1 --membw-mib 32 --lookup 2 --draft " + model +
                         " --draft-max 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::set<std::string> found;
  for (const auto& row : j.at("results")) {
    const std::string test = row.at("test");
    if (test != "tg24 lookup2" && test != "tg24 draft") continue;
    found.insert(test);
    SCOPED_TRACE(row.dump());
    const double kept = row.at("drafts_kept_fraction").get<double>();
    EXPECT_GE(kept, 0.0);
    EXPECT_LE(kept, 1.0);
    if (test == "tg24 draft") {
      EXPECT_EQ(kept, 1.0);
    }
    const auto& bw = row.at("read_bandwidth_samples_bytes_per_s");
    ASSERT_EQ(bw.size(), 3u);
    const double bytes = row.at("weight_bytes_per_token").get<double>();
    std::vector<double> fractions;
    for (int i = 0; i < 2; ++i)
      fractions.push_back(bytes * 24 / row.at("samples_seconds")[i].get<double>() /
                          std::max(bw[i].get<double>(), bw[i + 1].get<double>()));
    EXPECT_NEAR(row.at("roofline_fraction").get<double>(), (fractions[0] + fractions[1]) / 2, 1e-9);
  }
  EXPECT_EQ(found.size(), 2u) << r.out;
  const auto md = run_cli("bench -m " + quote(data_path("models/stories260K.bin")) +
                          " -p 0 -n 8 -r 1 -t 1 --membw-mib 32 --lookup 2");
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| tg8 lookup2 ("), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("% kept) |"), std::string::npos) << md.out;
}

// Batched decode rows: S sequences per forward_batch step, their aggregate rate against one
// stream's from the same run, and against a ceiling no higher than S tokens per weight pass.
TEST(BenchCli, StreamsRowsReportAggregateRateAgainstOneStream) {
  const auto r = run_cli("bench -m " + quote(data_path("models/stories260K.bin")) +
                         " -p 0 -n 16 -r 2 -t 1 --membw-mib 32 --streams 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  double one = 0, three = 0, ratio = -1;
  for (const auto& row : j.at("results")) {
    const std::string test = row.at("test");
    if (test != "tg16 x1" && test != "tg16 x3") continue;
    SCOPED_TRACE(row.dump());
    const int streams = row.at("streams").get<int>();
    EXPECT_EQ(row.at("n_tokens").get<int>(), 16 * streams);
    const double median = row.at("tokens_per_second").at("median").get<double>();
    EXPECT_GT(median, 0.0);
    (streams == 1 ? one : three) = median;
    if (streams == 3) ratio = row.at("vs_one_stream").get<double>();
    // The ceiling is the lower of bandwidth and compute: the fraction is at least the
    // bandwidth-only one, and equal to it when bandwidth binds.
    const auto& bw = row.at("read_bandwidth_samples_bytes_per_s");
    ASSERT_EQ(bw.size(), 3u);
    const double bytes = row.at("weight_bytes_per_token").get<double>();
    std::vector<double> by_bandwidth;
    for (int i = 0; i < 2; ++i)
      by_bandwidth.push_back(16.0 * bytes / row.at("samples_seconds")[i].get<double>() /
                             std::max(bw[i].get<double>(), bw[i + 1].get<double>()));
    const double bandwidth_fraction = (by_bandwidth[0] + by_bandwidth[1]) / 2;
    const double fraction = row.at("roofline_fraction").get<double>();
    if (row.at("roofline") == "bandwidth") EXPECT_NEAR(fraction, bandwidth_fraction, 1e-9);
    else EXPECT_GT(fraction, bandwidth_fraction);
  }
  ASSERT_GT(one, 0.0) << r.out;
  ASSERT_GT(three, 0.0) << r.out;
  EXPECT_NEAR(ratio, three / one, 1e-9);
  EXPECT_EQ(run_cli("bench -m " + quote(data_path("models/stories260K.bin")) + " --streams 0").exit_code, 2);
  EXPECT_EQ(run_cli("bench -m " + quote(data_path("models/stories260K.bin")) + " -n 0 --streams 2").exit_code, 2);
}

// A quantized file's prompt: the matrices the int8 GEMM multiplies count at the int8 peak, the
// rest (here the f16 w2, whose 172 columns fit no q8_0 block; attention) at the fp32 one, so the
// ceiling lies strictly between the two peaks; without a GEMM, the fp32 peak alone.
TEST(BenchCli, QuantizedPromptIsSetAgainstTheInt8AndFp32Peaks) {
  const std::string file = testing::scratch_dir() + "/bench-s260-q8_0.gguf";
  ASSERT_EQ(run_cli("quantize " + quote(data_path("models/stories260K.bin")) + " " + quote(file) + " --type q8_0").exit_code, 0);
  const auto r = run_cli("bench -m " + quote(file) + " -p 16 -n 0 -r 2 -t 1 --membw-mib 32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& m = j.at("machine").at("per_thread_count").at(0);
  const double fp32 = m.at("peak_flops").get<double>(), int8 = m.at("peak_int8_ops").get<double>();
  const bool gemm = int8::dot_probe().run != nullptr;
  EXPECT_EQ(int8 > 0, gemm);
  const auto& row = j.at("results").at(0);
  ASSERT_EQ(row.at("test"), "pp16");
  EXPECT_EQ(row.at("roofline"), gemm ? "int8" : "flops");
  const double ceiling = row.at("roofline_ceiling").get<double>();
  if (gemm) {
    EXPECT_GT(ceiling, std::min(fp32, int8));
    EXPECT_LT(ceiling, std::max(fp32, int8));
  } else {
    EXPECT_DOUBLE_EQ(ceiling, fp32);
  }
  // The fraction: FLOPs per token x tok/s over that ceiling.
  const auto model = Model::load(file);
  const double flops = tools::prompt_flops(model->config(), 16) / 16;
  EXPECT_NEAR(row.at("roofline_fraction").get<double>(),
              flops * row.at("tokens_per_second").at("median").get<double>() / ceiling, 1e-9);
}

TEST(BenchCli, JsonHasEveryTestWithPositiveNumbers) {
  const auto r = run_cli("bench -m " + quote(data_path("models/stories260K.bin")) +
                         " -p 8 -n 8 -r 2 -t 1,2 --ttft 4 --membw-mib 32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);

  const auto& machine = j.at("machine");
  EXPECT_FALSE(machine.at("cpu").get<std::string>().empty());
  EXPECT_FALSE(machine.at("simd_target").get<std::string>().empty());
  EXPECT_FALSE(machine.at("quant_kernels").get<std::string>().empty());
  ASSERT_EQ(machine.at("per_thread_count").size(), 2u);
  for (const auto& m : machine.at("per_thread_count")) {
    EXPECT_GT(m.at("read_bandwidth_bytes_per_s").get<double>(), 0);
    EXPECT_GT(m.at("peak_flops").get<double>(), 0);
  }

  std::set<std::pair<int, std::string>> seen;
  for (const auto& row : j.at("results")) {
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(row.at("model"), "stories260K");
    EXPECT_GT(row.at("params").get<double>(), 200000);
    EXPECT_GT(row.at("file_bytes").get<double>(), 0);
    EXPECT_EQ(row.at("repetitions"), 2);
    ASSERT_EQ(row.at("samples_seconds").size(), 2u);
    for (const auto& s : row.at("samples_seconds")) EXPECT_GT(s.get<double>(), 0);
    const std::string test = row.at("test");
    seen.emplace(row.at("threads").get<int>(), test);
    if (test == "ttft4") {
      EXPECT_GT(row.at("milliseconds").at("median").get<double>(), 0);
      continue;
    }
    const auto& rate = row.at("tokens_per_second");
    for (const char* k : {"median", "mean", "min", "max"}) EXPECT_GT(rate.at(k).get<double>(), 0) << k;
    EXPECT_GE(rate.at("stddev").get<double>(), 0);
    EXPECT_LE(rate.at("min").get<double>(), rate.at("max").get<double>());
    EXPECT_GT(row.at("roofline_fraction").get<double>(), 0);
    EXPECT_EQ(row.at("roofline"), test == "pp8" ? "flops" : "bandwidth");
    if (test != "tg8") continue;
    // Bandwidth read before the first repetition and after each; each repetition against the
    // higher reading beside it, and the row's fraction the median (of two: their mean).
    const auto& bw = row.at("read_bandwidth_samples_bytes_per_s");
    ASSERT_EQ(bw.size(), 3u);
    for (const auto& b : bw) EXPECT_GT(b.get<double>(), 0);
    const double bytes = row.at("weight_bytes_per_token").get<double>();
    EXPECT_GT(bytes, 200000 * 4 * 0.9);  // ~all of stories260K's fp32 weights
    double sum = 0;
    for (int i = 0; i < 2; ++i) {
      const double rate = 8 / row.at("samples_seconds")[i].get<double>();
      sum += bytes * rate / std::max(bw[i].get<double>(), bw[i + 1].get<double>());
    }
    EXPECT_NEAR(row.at("roofline_fraction").get<double>(), sum / 2, 1e-9 * sum);
    // The ceiling: the median of the two repetitions' higher neighbouring readings.
    const double c0 = std::max(bw[0].get<double>(), bw[1].get<double>());
    const double c1 = std::max(bw[1].get<double>(), bw[2].get<double>());
    EXPECT_NEAR(row.at("roofline_ceiling").get<double>(), (c0 + c1) / 2, 1e-9 * (c0 + c1));
  }
  const std::set<std::pair<int, std::string>> expected = {{1, "pp8"}, {1, "tg8"}, {1, "ttft4"},
                                                          {2, "pp8"}, {2, "tg8"}, {2, "ttft4"}};
  EXPECT_EQ(seen, expected);
}

TEST(BenchCli, ResidentMemoryLeavesTheBandwidthBufferOut) {
  // The bandwidth buffer stays resident for the whole run; counted in, a 256 MiB buffer would
  // take a tiny model's figure past 256 MiB.
  const auto r = run_cli("bench -m " + quote(data_path("models/stories260K.bin")) +
                         " -p 0 -n 4 -r 1 -t 1 --membw-mib 256 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("results").size(), 1u);
  const double rss = j.at("results")[0].at("rss_bytes").get<double>();
  EXPECT_GT(rss, 1 << 20);
  EXPECT_LT(rss, 256.0 * (1 << 20));
}

TEST(BenchCli, MarkdownTableHasHeaderAndRows) {
  const auto r = run_cli("bench -m " + quote(data_path("models/stories260K.bin")) +
                         " -p 4 -n 4 -r 1 -t 1 --membw-mib 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("machine: "), std::string::npos);
  EXPECT_NE(r.out.find("| model | params | size | threads | test | t/s |"), std::string::npos);
  EXPECT_NE(r.out.find("| stories260K |"), std::string::npos);
  EXPECT_NE(r.out.find("| pp4 |"), std::string::npos);
  EXPECT_NE(r.out.find("| tg4 |"), std::string::npos);
  // Each fraction names the ceiling it is of.
  EXPECT_NE(r.out.find(" GFLOP/s |\n"), std::string::npos);
  EXPECT_NE(r.out.find(" GB/s |\n"), std::string::npos);
}

// A GGUF shape is written once, straight in the asked type, and reused by the next run.
TEST(BenchCli, GgufShapeIsWrittenInItsTypeAndReused) {
  const std::string cache = testing::scratch_dir() + "/bench-cache";
  const std::string args = "bench --shape micro-qwen3:q4_0 -p 4 -n 4 -r 1 -t 1 --membw-mib 16 --cache-dir " + quote(cache);
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| micro-qwen3 q4_0 (random) |"), std::string::npos) << r.out;
  const std::string file = cache + "/micro-qwen3-q4_0-random-v1.gguf";
  const auto m = Model::load(file);
  EXPECT_EQ(m->config().arch, Architecture::Qwen3);
  EXPECT_EQ(m->weights().layers[0].wq.type, DType::Q4_0);
  const auto written = std::filesystem::last_write_time(file);
  ASSERT_EQ(run_cli(args).exit_code, 0);
  EXPECT_EQ(std::filesystem::last_write_time(file), written);
}

TEST(BenchCli, RejectsMissingModelAndTooLongTests) {
  EXPECT_EQ(run_cli("bench").exit_code, 2);
  EXPECT_EQ(run_cli("bench --shape 7B").exit_code, 2);
  EXPECT_EQ(run_cli("bench --shape qwen2.5-0.5b:q3_k").exit_code, 2);
  EXPECT_EQ(run_cli("bench --shape qwen9:q8_0").exit_code, 2);
  const auto r = run_cli("bench -m " + quote(data_path("models/stories260K.bin")) + " -p 4 -n 100000 --membw-mib 16");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("do not fit"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace llama2
