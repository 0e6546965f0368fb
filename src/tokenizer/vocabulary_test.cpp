// Byte-level vocabularies through the engine: the Tokenizer facade over a BPE vocabulary (which
// ids begin and end things, what is printed), the GGUF round trip of tokenizer.ggml.model
// "gpt2", reading Hugging Face tokenizer.json files, and the Llama 3 chat template on them.
// (The real Llama 3 / Qwen3 vocabularies against tokenizers.js: tests/tokenizer.)
#include "tokenizer/vocabulary.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "format/gguf_writer.hpp"
#include "generation/chat_template.hpp"
#include "model/model.hpp"
#include "test_support.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2 {
namespace {

// 256 byte tokens (id = byte), merges for "he", "ll", "hell", "hello", then specials.
Vocabulary tiny_bpe_vocabulary() {
  Vocabulary v;
  v.model = "gpt2";
  v.pre = "llama-bpe";
  v.ignore_merges = true;
  for (int b = 0; b < 256; ++b) v.pieces.push_back(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
  v.token_types.assign(256, kTokenNormal);
  for (const char* t : {"he", "ll", "hell", "hello"}) {
    v.pieces.push_back(t);
    v.token_types.push_back(kTokenNormal);
  }
  v.merges = {"h e", "l l", "he ll", "hell o"};
  // 260.. : BOS, EOS, two end-of-turn controls, a header control, a user-defined token
  for (const auto& [text, type] : std::vector<std::pair<std::string, std::int32_t>>{
           {"<|begin_of_text|>", kTokenControl},
           {"<|end_of_text|>", kTokenControl},
           {"<|eot_id|>", kTokenControl},
           {"<|im_end|>", kTokenControl},
           {"<|start_header_id|>", kTokenControl},
           {"<|end_header_id|>", kTokenControl},
           {"<think>", kTokenUserDefined}}) {
    v.pieces.push_back(text);
    v.token_types.push_back(type);
  }
  v.bos = 260;
  v.eos = 261;
  v.add_bos = true;
  v.scores.assign(v.pieces.size(), 0.0f);
  return v;
}

constexpr TokenId kHello = 259, kEot = 262, kImEnd = 263, kStartHeader = 264, kEndHeader = 265, kThink = 266;

TEST(ByteLevelTokenizer, KnowsWhichIdsBeginAndEndThings) {
  const Tokenizer t = make_tokenizer(tiny_bpe_vocabulary());
  EXPECT_TRUE(t.is_byte_level());
  EXPECT_EQ(t.bos(), 260);
  EXPECT_EQ(t.eos(), 261);
  EXPECT_TRUE(t.adds_bos());
  for (TokenId id : {260, 261, kEot, kImEnd, kStartHeader}) EXPECT_TRUE(t.is_control(id)) << id;
  for (TokenId id : {0, TokenId{'h'}, kHello, kThink, -1, 9999}) EXPECT_FALSE(t.is_control(id)) << id;
  // EOS and the end-of-turn controls end a reply and a generation; BOS and headers do not.
  EXPECT_EQ(t.reply_stops(), (std::vector<TokenId>{261, kEot, kImEnd}));
  EXPECT_EQ(t.generation_stops(), t.reply_stops());
}

TEST(ByteLevelTokenizer, EncodesWithBosOnlyWhenTheVocabularyAsks) {
  Vocabulary v = tiny_bpe_vocabulary();
  const Tokenizer with = make_tokenizer(v);
  EXPECT_EQ(with.encode("hello", true, false), (std::vector<TokenId>{260, kHello}));
  EXPECT_EQ(with.encode("hello", false, true), (std::vector<TokenId>{kHello, 261}));
  v.add_bos = false;  // Qwen's vocabularies
  const Tokenizer without = make_tokenizer(v);
  EXPECT_EQ(without.encode("hello", true, false), (std::vector<TokenId>{kHello}));
  EXPECT_TRUE(without.encode("", true, false).empty());
}

TEST(ByteLevelTokenizer, SpecialsInTheTextAreParsedOnlyWhenAsked) {
  const Tokenizer t = make_tokenizer(tiny_bpe_vocabulary());
  EXPECT_EQ(t.encode("hello<|eot_id|><think>", false, false, /*parse_special=*/true),
            (std::vector<TokenId>{kHello, kEot, kThink}));
  const auto plain = t.encode("<|eot_id|>", false, false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kEot), 0);
}

TEST(ByteLevelTokenizer, DecodesBytesAndNeverPrintsControls) {
  const Tokenizer t = make_tokenizer(tiny_bpe_vocabulary());
  EXPECT_EQ(t.decode(260, kHello), "hello");  // no space rule after BOS: bytes are bytes
  EXPECT_EQ(t.decode(kHello, ' '), " ");
  EXPECT_EQ(t.decode(kHello, kEot), "");
  EXPECT_EQ(t.decode(kHello, kThink), "<think>");  // user-defined tokens are text
  EXPECT_EQ(t.decode(kHello, 0xE6), "\xE6");       // a lone byte of a split character
  EXPECT_TRUE(t.is_printable("\xE6"));             // printed: the terminal joins the bytes
  EXPECT_THROW(t.decode(kHello, 267), Error);
  const std::vector<TokenId> seq{260, kHello, ' ', kEot, kThink};
  EXPECT_EQ(t.decode_all(seq), "hello <think>");
}

TEST(ByteLevelTokenizer, RejectsInconsistentVocabularies) {
  Vocabulary v = tiny_bpe_vocabulary();
  v.eos = 5000;
  EXPECT_THROW(make_tokenizer(v), Error);
  v = tiny_bpe_vocabulary();
  v.pre = "falcon";
  EXPECT_THROW(make_tokenizer(v), Error);
  v = tiny_bpe_vocabulary();
  v.merges.push_back("q zz");
  EXPECT_THROW(make_tokenizer(v), Error);
  v = tiny_bpe_vocabulary();
  v.model = "t5";
  EXPECT_THROW(make_tokenizer(v), Error);
}

Config config_for(const Vocabulary& v) {
  Config c;
  c.dim = 32, c.hidden_dim = 64, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.seq_len = 16;
  c.vocab_size = static_cast<int>(v.pieces.size());
  return c;
}

TEST(ByteLevelGguf, RoundTripsTheVocabulary) {
  Vocabulary v = tiny_bpe_vocabulary();
  v.chat_template = "{{ '<|start_header_id|>' }}";
  const std::string path = testing::scratch_dir() + "/bpe_vocab.gguf";
  write_random_gguf(path, config_for(v), DType::Q8_0, 3, &v, /*tied_classifier=*/true);
  const auto model = Model::load(path);
  ASSERT_TRUE(model->vocabulary());
  const Vocabulary& r = *model->vocabulary();
  EXPECT_EQ(r.model, "gpt2");
  EXPECT_EQ(r.pre, "llama-bpe");
  EXPECT_TRUE(r.ignore_merges);  // llama.cpp's rule for Llama 3's pre-tokenizer
  EXPECT_EQ(r.pieces, v.pieces);
  EXPECT_EQ(r.merges, v.merges);
  EXPECT_EQ(r.token_types, v.token_types);
  EXPECT_EQ(std::tie(r.bos, r.eos, r.add_bos), std::tie(v.bos, v.eos, v.add_bos));
  EXPECT_EQ(r.chat_template, v.chat_template);
  EXPECT_EQ(make_tokenizer(r).encode("hello hell", true, false), make_tokenizer(v).encode("hello hell", true, false));
  // A byte-level vocabulary has no tokenizer.bin form.
  EXPECT_THROW(write_tokenizer_bin(r, testing::scratch_dir() + "/bpe_vocab.bin"), Error);
}

TEST(ByteLevelGguf, RefusesAnUnknownPreTokenizerOnLoad) {
  Vocabulary v = tiny_bpe_vocabulary();
  v.pre = "falcon";
  const std::string path = testing::scratch_dir() + "/bpe_falcon.gguf";
  write_random_gguf(path, config_for(v), DType::F32, 3, &v);
  try {
    Model::load(path);
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("falcon"), std::string::npos) << e.what();
  }
}

// ---- tokenizer.json ----

using nlohmann::json;

json tiny_tokenizer_json(const json& pre_tokenizer) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  vocab["he"] = 256;
  json j;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({json::array({"h", "e"})})}, {"ignore_merges", true}};
  j["added_tokens"] = json::array({{{"id", 258}, {"content", "<|end|>"}, {"special", true}},
                                   {{"id", 259}, {"content", "<tool>"}, {"special", false}}});
  j["pre_tokenizer"] = pre_tokenizer;
  return j;
}

json split(const std::string& regex) {
  return {{"type", "Sequence"},
          {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", regex}}}}, {{"type", "ByteLevel"}}})}};
}

std::string write_json(const std::string& name, const json& j) { return testing::write_scratch(name, j.dump()); }

TEST(HfTokenizerJson, ReadsTokensMergesAndSpecialsAsTheConverterDoes) {
  const std::string tok = write_json("tok_llama3.json",
                                     tiny_tokenizer_json(split("(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?x")));
  const std::string cfg = write_json("tok_llama3_config.json",
                                     {{"eos_token", "<|end|>"}, {"chat_template", "{{ '<|start_header_id|>' }}"}});
  const Vocabulary v = vocabulary_from_hf_tokenizer(tok, cfg);
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "llama-bpe");
  ASSERT_EQ(v.pieces.size(), 260u);
  EXPECT_EQ(v.pieces[256], "he");
  EXPECT_EQ(v.pieces[257], "[PAD257]");  // a gap in the ids
  EXPECT_EQ(v.token_types[257], kTokenUnused);
  EXPECT_EQ(v.pieces[258], "<|end|>");
  EXPECT_EQ(v.token_types[258], kTokenControl);
  EXPECT_EQ(v.token_types[259], kTokenUserDefined);
  EXPECT_EQ(v.merges, (std::vector<std::string>{"h e"}));
  EXPECT_TRUE(v.ignore_merges);
  EXPECT_EQ(v.eos, 258);
  EXPECT_EQ(v.bos, 258);     // none named: EOS stands in
  EXPECT_TRUE(v.add_bos);    // llama.cpp adds BOS for Llama 3's pre-tokenizer
  EXPECT_EQ(v.chat_template, "{{ '<|start_header_id|>' }}");
  EXPECT_EQ(make_tokenizer(v).encode("he<|end|>", false, false, true), (std::vector<TokenId>{256, 258}));
}

TEST(HfTokenizerJson, RecognisesEachPreTokenizer) {
  const std::pair<json, const char*> cases[] = {
      {split("(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?x"), "qwen2"},
      {{{"type", "ByteLevel"}}, "gpt2"},
      {{{"type", "Sequence"},
        {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", true}}, {{"type", "ByteLevel"}}})}},
       "smollm"},
  };
  const std::string cfg = write_json("tok_cfg.json", {{"eos_token", {{"content", "<|end|>"}}}, {"add_bos_token", false}});
  for (const auto& [pre, name] : cases) {
    const Vocabulary v = vocabulary_from_hf_tokenizer(write_json("tok_pre.json", tiny_tokenizer_json(pre)), cfg);
    EXPECT_EQ(v.pre, name);
    EXPECT_FALSE(v.add_bos);
  }
}

TEST(HfTokenizerJson, RejectsWhatItCannotRead) {
  const std::string cfg = write_json("tok_cfg2.json", {{"eos_token", "<|end|>"}});
  auto fails = [&](const std::string& tok, const std::string& config, const std::string& needle) {
    try {
      vocabulary_from_hf_tokenizer(tok, config);
      ADD_FAILURE() << "accepted (expected an error with '" << needle << "')";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  fails(testing::scratch_dir() + "/no_such_tokenizer.json", cfg, "cannot open");
  fails(testing::write_scratch("tok_bad.json", "{\"model\": "), cfg, "not valid JSON");
  json wordpiece = tiny_tokenizer_json({{"type", "ByteLevel"}});
  wordpiece["model"]["type"] = "WordPiece";
  fails(write_json("tok_wp.json", wordpiece), cfg, "not a BPE tokenizer");
  fails(write_json("tok_bert.json", tiny_tokenizer_json({{"type", "Whitespace"}})), cfg, "not byte-level");
  fails(write_json("tok_regex.json", tiny_tokenizer_json(split("[a-z]+"))), cfg, "regex");
  fails(write_json("tok_noeos.json", tiny_tokenizer_json({{"type", "ByteLevel"}})), "", "names no EOS");
  json bad_id = tiny_tokenizer_json({{"type", "ByteLevel"}});
  bad_id["added_tokens"].push_back({{"id", 1 << 30}, {"content", "x"}, {"special", true}});
  fails(write_json("tok_id.json", bad_id), cfg, "implausibly large");
}

// ---- the Llama 3 chat template on a byte-level vocabulary ----

TEST(ByteLevelChat, Llama3TurnsUseTheHeaderAndEndOfTurnTokens) {
  const Tokenizer t = make_tokenizer(tiny_bpe_vocabulary());
  const auto ids = encode_user_turn(t, ChatTemplate::Llama3, "", "hello", true);
  std::vector<TokenId> want{260, kStartHeader};
  auto add = [&](const std::string& text) {
    for (TokenId id : t.encode(text, false, false)) want.push_back(id);
  };
  add("user");
  want.push_back(kEndHeader);
  add("\n\nhello");
  want.insert(want.end(), {kEot, kStartHeader});
  add("assistant");
  want.push_back(kEndHeader);
  add("\n\n");
  EXPECT_EQ(ids, want);
  EXPECT_EQ(encode_user_turn(t, ChatTemplate::Llama3, "", "hello", false)[0], kStartHeader);  // BOS only once
  EXPECT_EQ(chat_end_of_turn(t, ChatTemplate::Llama3), kEot);
  EXPECT_EQ(chat_end_of_turn(t, ChatTemplate::ChatML), kImEnd);
  const auto stops = chat_stop_tokens(t, ChatTemplate::Llama3);
  EXPECT_NE(std::find(stops.begin(), stops.end(), kEot), stops.end());
  EXPECT_EQ(detect_chat_template("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}"),
            ChatTemplate::Llama3);
  EXPECT_EQ(chat_template_from_name("llama3"), ChatTemplate::Llama3);
}

}  // namespace
}  // namespace llama2
