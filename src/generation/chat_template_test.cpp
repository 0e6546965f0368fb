// Chat templates: recognising a GGUF file's Jinja template, rendering turns, and turning
// template markers into the model's special tokens.
#include "generation/chat_template.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

// Abridged from the templates published with the models (the markers are what matters).
constexpr const char* kLlama2Jinja =
    "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] "
    "+ '\\n<</SYS>>\\n\\n' %}{% endif %}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + message['content'].strip() + ' [/INST]' }}{% endif %}{% endfor %}";
constexpr const char* kZephyrJinja =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
constexpr const char* kChatMLJinja =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

TEST(ChatTemplate, DetectsFamiliesByTheirMarkers) {
  EXPECT_EQ(detect_chat_template(kLlama2Jinja), ChatTemplate::Llama2);
  EXPECT_EQ(detect_chat_template(kZephyrJinja), ChatTemplate::Zephyr);
  EXPECT_EQ(detect_chat_template(kChatMLJinja), ChatTemplate::ChatML);
  EXPECT_EQ(detect_chat_template("{{ messages[0].content }}<start_of_turn>"), std::nullopt);
  EXPECT_EQ(detect_chat_template(""), std::nullopt);
}

TEST(ChatTemplate, NamesRoundTrip) {
  for (ChatTemplate t : {ChatTemplate::Llama2, ChatTemplate::Zephyr, ChatTemplate::ChatML})
    EXPECT_EQ(chat_template_from_name(chat_template_name(t)), t);
  EXPECT_THROW(chat_template_from_name("alpaca"), UsageError);
}

TEST(ChatTemplate, RendersEachFamily) {
  EXPECT_EQ(render_user_turn(ChatTemplate::Llama2, "Be brief.", "Hi", true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]");
  EXPECT_EQ(render_user_turn(ChatTemplate::Llama2, "Be brief.", "Hi", false), "[INST] Hi [/INST]");
  EXPECT_EQ(render_user_turn(ChatTemplate::Zephyr, "Be brief.", "Hi", true),
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
  EXPECT_EQ(render_user_turn(ChatTemplate::Zephyr, "", "Hi", false), "\n<|user|>\nHi</s>\n<|assistant|>\n");
  EXPECT_EQ(render_user_turn(ChatTemplate::ChatML, "Be brief.", "Hi", true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_user_turn(ChatTemplate::ChatML, "", "Hi", false),
            "\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

// A small vocabulary: the special ids, the byte tokens, a few pieces, and ChatML's markers as
// single pieces (as ChatML fine-tunes of Llama add them).
Tokenizer tiny_tokenizer() {
  std::vector<std::string> pieces{"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    pieces.push_back(name);
  }
  for (const char* p : {" ", "H", "i", " H", "Hi", " Hi", "<|im_start|>", "<|im_end|>", "user", "assistant"})
    pieces.push_back(p);
  std::vector<float> scores(pieces.size(), 0.0f);
  for (std::size_t i = 259; i < pieces.size(); ++i) scores[i] = -static_cast<float>(i);
  return Tokenizer(pieces, scores);
}

TEST(ChatTemplate, Llama2TurnsEncodeLikeTheReference) {
  const Tokenizer t = tiny_tokenizer();
  for (bool first : {true, false})
    EXPECT_EQ(encode_user_turn(t, ChatTemplate::Llama2, "sys", "Hi", first),
              t.encode(render_user_turn(ChatTemplate::Llama2, "sys", "Hi", first), true, false));
}

TEST(ChatTemplate, MarkersInTheVocabularyBecomeSingleTokens) {
  const Tokenizer t = tiny_tokenizer();
  TokenId im_start = -1, im_end = -1;
  for (TokenId id = 0; id < t.vocab_size(); ++id) {
    if (t.piece(id) == "<|im_start|>") im_start = id;
    if (t.piece(id) == "<|im_end|>") im_end = id;
  }
  const auto ids = encode_user_turn(t, ChatTemplate::ChatML, "", "Hi", true);
  // BOS, <|im_start|>, "user\nHi" (with its dummy-prefix space), <|im_end|>, "\n", <|im_start|>, ...
  ASSERT_GE(ids.size(), 6u);
  EXPECT_EQ(ids[0], kBosToken);
  EXPECT_EQ(ids[1], im_start);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_start), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), im_end), 1);
  std::vector<TokenId> expected_text = t.encode("user\nHi", false, false);
  EXPECT_TRUE(std::search(ids.begin(), ids.end(), expected_text.begin(), expected_text.end()) != ids.end());
  // Later turns carry no BOS.
  EXPECT_NE(encode_user_turn(t, ChatTemplate::ChatML, "", "Hi", false)[0], kBosToken);
  EXPECT_EQ(chat_stop_tokens(t, ChatTemplate::ChatML), (std::vector<TokenId>{kEosToken, im_end}));
  EXPECT_EQ(chat_stop_tokens(t, ChatTemplate::Llama2), (std::vector<TokenId>{kEosToken}));
}

TEST(ChatTemplate, ZephyrEndMarkerIsEosAndMissingMarkersStayText) {
  const Tokenizer t = tiny_tokenizer();
  const auto ids = encode_user_turn(t, ChatTemplate::Zephyr, "", "Hi", true);
  // "</s>" is always EOS; "<|user|>" is not a piece here, so it is encoded as text.
  EXPECT_EQ(std::count(ids.begin(), ids.end(), kEosToken), 1);
  EXPECT_EQ(ids[0], kBosToken);
  const auto text = t.encode("<|user|>\nHi", true, false);
  EXPECT_TRUE(std::equal(text.begin(), text.end(), ids.begin()));
  EXPECT_EQ(ids[text.size()], kEosToken);
}


// One of the Jinja templates in tests/chat/templates (written in the families' formats).
jinja::Template test_template(const std::string& name) {
  std::ifstream in(std::string(LLAMA2_SOURCE_DIR) + "/tests/chat/templates/" + name + ".jinja");
  std::ostringstream text;
  text << in.rdbuf();
  return jinja::Template::parse(text.str());
}

jinja::Json conversation(const std::string& system, const std::string& user) {
  jinja::Json messages = jinja::Json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  messages.push_back({{"role", "user"}, {"content", user}});
  return messages;
}

// On a sentencepiece vocabulary the Jinja path parses <s> and </s> in the rendering and gives
// each text run its dummy-prefix space: the first turn then equals the built-in rendering,
// which follows run.c (Llama 2) and llama.cpp (Zephyr).
TEST(ChatFormat, JinjaFirstTurnsEqualTheBuiltInOnesOnLlamasVocabulary) {
  const Tokenizer t = Tokenizer::load(testing::data_path("models/tokenizer.bin"), 32000);
  for (const std::string system : {"", "Be brief."}) {
    EXPECT_EQ(encode_conversation(t, test_template("llama2"), conversation(system, "Tell me a story"), true),
              encode_user_turn(t, ChatTemplate::Llama2, system, "Tell me a story", true))
        << system;
    EXPECT_EQ(encode_conversation(t, test_template("zephyr"), conversation(system, "Tell me a story"), true),
              encode_user_turn(t, ChatTemplate::Zephyr, system, "Tell me a story", true))
        << system;
  }
  // Later Llama 2 turns start with their own <s>, as the template writes it.
  jinja::Json messages = conversation("", "Hi");
  messages.push_back({{"role", "assistant"}, {"content", "Hello."}});
  messages.push_back({{"role", "user"}, {"content", "Bye"}});
  const std::vector<TokenId> ids = encode_conversation(t, test_template("llama2"), messages, true);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), kBosToken), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), kEosToken), 1);
}

TEST(ChatFormat, ChoosesTheModelsTemplateAndFallsBackWithAWarning) {
  const Tokenizer t = tiny_tokenizer();
  std::string warning;
  const ChatFormat jinja = choose_chat_format("", kChatMLJinja, t, warning);
  EXPECT_TRUE(jinja.jinja);
  EXPECT_EQ(jinja.builtin, ChatTemplate::ChatML);  // its end-of-turn marker stops replies
  EXPECT_TRUE(warning.empty());
  // --chat-template wins over the file's template.
  EXPECT_FALSE(choose_chat_format("zephyr", kChatMLJinja, t, warning).jinja);
  EXPECT_EQ(choose_chat_format("zephyr", kChatMLJinja, t, warning).builtin, ChatTemplate::Zephyr);
  // A template this interpreter cannot run falls back to the family it looks like.
  const ChatFormat fallback =
      choose_chat_format("", "{% macro m() %}{% endmacro %}<|im_start|>{{ messages | no_filter }}", t, warning);
  EXPECT_FALSE(fallback.jinja);
  EXPECT_EQ(fallback.builtin, ChatTemplate::ChatML);
  EXPECT_NE(warning.find("macro"), std::string::npos) << warning;
  // One that parses but fails on every conversation is caught before it is used.
  EXPECT_FALSE(choose_chat_format("", "{{ messages | no_such_filter }}", t, warning).jinja);
  EXPECT_NE(warning.find("no_such_filter"), std::string::npos) << warning;
  // No template at all: Llama 2, silently.
  EXPECT_FALSE(choose_chat_format("", "", t, warning).jinja);
  EXPECT_TRUE(warning.empty());
}

}  // namespace
}  // namespace llama2
