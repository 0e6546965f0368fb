// The reference's own outputs on stories260K: every token id of every sampling setting, and
// the greedy run's first logits. Checked through the library and through `llama2 --ids`.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/thread_pool.hpp"
#include "generation/generate.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "test_support.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {
namespace {

using testing::data_path;

nlohmann::json golden() {
  std::ifstream in(data_path("golden/stories260K.json"));
  EXPECT_TRUE(in.good()) << "missing " << data_path("golden/stories260K.json");
  return nlohmann::json::parse(in);
}

std::vector<TokenId> run_case(const Model& model, const nlohmann::json& c, int threads) {
  const int steps = resolve_steps(c["steps"].get<int>(), model.config());
  State state(model.config(), steps);
  Sampler sampler(model.config().vocab_size,
                  {c["temperature"].get<float>(), c["topp"].get<float>(), c["seed"].get<std::uint64_t>()});
  ThreadPool pool(threads);
  const auto prompt = c["prompt_tokens"].get<std::vector<TokenId>>();
  return generate(model, state, sampler, prompt, steps, pool).tokens;
}

TEST(Golden, EveryCaseReproducesReferenceTokens) {
  const auto model = Model::load(data_path("models/stories260K.bin"));
  const auto g = golden();
  ASSERT_FALSE(g["cases"].empty());
  for (const auto& c : g["cases"]) {
    SCOPED_TRACE(c["description"].get<std::string>());
    // Seed 0 in the golden file only appears with temperature 0, where no draw is made.
    EXPECT_EQ(run_case(*model, c, 1), c["tokens"].get<std::vector<TokenId>>());
  }
}

TEST(Golden, TokensIdenticalForAnyThreadCount) {
  const auto model = Model::load(data_path("models/stories260K.bin"));
  const auto g = golden();
  for (const auto& c : g["cases"]) {
    SCOPED_TRACE(c["description"].get<std::string>());
    const auto expected = c["tokens"].get<std::vector<TokenId>>();
    EXPECT_EQ(run_case(*model, c, 2), expected);
    EXPECT_EQ(run_case(*model, c, 3), expected);
  }
}

TEST(Golden, GreedyLogitsMatchWithin1e4) {
  const auto model = Model::load(data_path("models/stories260K.bin"));
  const auto g = golden();
  const auto& c = g["cases"][0];
  const auto expected = c["logits_first_positions"].get<std::vector<std::vector<float>>>();
  const auto tokens = c["tokens"].get<std::vector<TokenId>>();
  State state(model->config(), model->config().seq_len);
  ThreadPool pool(2);
  for (std::size_t pos = 0; pos < expected.size(); ++pos) {
    const auto logits = forward(*model, state, tokens[pos], static_cast<Position>(pos), pool);
    ASSERT_EQ(logits.size(), expected[pos].size());
    float worst = 0.0f;
    for (std::size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::fabs(logits[i] - expected[pos][i]));
    EXPECT_LE(worst, 1e-4f) << "position " << pos;
  }
}

TEST(Golden, CliIdsModeReproducesEveryCase) {
  const auto g = golden();
  for (const auto& c : g["cases"]) {
    SCOPED_TRACE(c["description"].get<std::string>());
    std::string prompt;
    for (TokenId t : c["prompt_tokens"].get<std::vector<TokenId>>()) prompt += std::to_string(t) + " ";
    char args[512];
    std::snprintf(args, sizeof args, "%s --ids -i %s -n %d -t %g -p %g -s %llu",
                  testing::quote(data_path("models/stories260K.bin")).c_str(), testing::quote(prompt).c_str(),
                  c["steps"].get<int>(), c["temperature"].get<double>(), c["topp"].get<double>(),
                  static_cast<unsigned long long>(c["seed"].get<std::uint64_t>()));
    const auto r = testing::run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(testing::parse_ids(r.out), c["tokens"].get<std::vector<TokenId>>());
    EXPECT_NE(r.err.find("achieved tok/s:"), std::string::npos);
  }
}

}  // namespace
}  // namespace llama2
