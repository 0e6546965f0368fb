// validate(Config): a valid shape passes, and each field out of range is refused by name.
#include "model/config.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.hpp"

namespace llama2 {
namespace {

Config stories15m() {
  Config c;
  c.dim = 288, c.hidden_dim = 768, c.n_layers = 6, c.n_heads = 6, c.n_kv_heads = 6;
  c.vocab_size = 32000, c.seq_len = 256;
  return c;
}

TEST(ValidateConfig, PublishedShapesPass) {
  EXPECT_NO_THROW(validate(stories15m()));
  Config gqa = stories15m();
  gqa.n_kv_heads = 2;  // 6 query heads on 2 key/value heads
  EXPECT_NO_THROW(validate(gqa));
  EXPECT_EQ(gqa.kv_group(), 3);
  EXPECT_EQ(gqa.kv_dim(), 96);
}

TEST(ValidateConfig, EachBadFieldIsRefusedByName) {
  struct Case {
    const char* needle;
    std::function<void(Config&)> spoil;
  };
  const Case cases[] = {
      {"dim", [](Config& c) { c.dim = 0; }},
      {"dim", [](Config& c) { c.dim = (1 << 16) + 6; }},
      {"hidden_dim", [](Config& c) { c.hidden_dim = -1; }},
      {"n_layers", [](Config& c) { c.n_layers = 0; }},
      {"n_layers", [](Config& c) { c.n_layers = 5000; }},
      {"n_heads", [](Config& c) { c.n_heads = 0; }},
      {"n_kv_heads", [](Config& c) { c.n_kv_heads = 0; }},
      {"n_kv_heads", [](Config& c) { c.n_kv_heads = 7; }},            // more than n_heads
      {"vocab_size", [](Config& c) { c.vocab_size = 0; }},
      {"vocab_size", [](Config& c) { c.vocab_size = 1 << 23; }},
      {"seq_len", [](Config& c) { c.seq_len = -5; }},
      {"not divisible by n_heads", [](Config& c) { c.n_heads = 5, c.n_kv_heads = 5; }},
      {"not divisible by n_kv_heads", [](Config& c) { c.n_kv_heads = 4; }},
      {"odd", [](Config& c) { c.dim = 18, c.n_heads = 2, c.n_kv_heads = 2; }},  // head size 9
      {"RoPE", [](Config& c) { c.rope_theta = 0.0f; }},
      {"epsilon", [](Config& c) { c.norm_eps = 0.0f; }},
      {"epsilon", [](Config& c) { c.norm_eps = 2.0f; }},
  };
  for (const Case& k : cases) {
    Config c = stories15m();
    k.spoil(c);
    try {
      validate(c);
      ADD_FAILURE() << "accepted a config that should fail on '" << k.needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(k.needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    }
  }
}

}  // namespace
}  // namespace llama2
