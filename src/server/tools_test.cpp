// Tool calling without HTTP: parsing tools and tool_choice, the constrained form of a call
// (random walks of its grammar always read back as a valid call), reading calls out of a
// reply, rendering tools and tool turns into ChatML, and the response JSON.
#include "server/tools.hpp"

#include <gtest/gtest.h>

#include <random>

#include "server/openai.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::server {
namespace {

using ojson = nlohmann::ordered_json;

const char* kWeather = R"({"type":"function","function":{"name":"get_weather","description":"Weather now",)"
                       R"("parameters":{"type":"object","properties":{"city":{"type":"string"},)"
                       R"("unit":{"enum":["c","f"]}},"required":["city"],"additionalProperties":false}}})";
const char* kTime = R"({"type":"function","function":{"name":"get_time","parameters":{"type":"object",)"
                    R"("properties":{"zone":{"type":"integer"}},"required":["zone"]}}})";

std::shared_ptr<const Tools> tools(const std::string& choice = "") {
  std::string body = std::string(R"({"tools":[)") + kWeather + "," + kTime + "]";
  if (!choice.empty()) body += R"(,"tool_choice":)" + choice;
  return parse_tools(ojson::parse(body + "}"));
}

std::string refusal(const std::string& body) {
  try {
    parse_tools(ojson::parse(body));
    return "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return std::to_string(e.status) + " " + e.param + " " + e.code;
  }
}

TEST(Tools, ParsesChoicesAndRefusesBadFields) {
  EXPECT_EQ(parse_tools(ojson::parse("{}")), nullptr);
  EXPECT_EQ(parse_tools(ojson::parse(R"({"tools":[]})")), nullptr);
  EXPECT_EQ(tools()->choice, ToolChoice::Auto);
  EXPECT_EQ(tools()->grammar, nullptr);  // auto: the reply is read, not held
  EXPECT_EQ(tools(R"("none")")->choice, ToolChoice::None);
  EXPECT_NE(tools(R"("required")")->grammar, nullptr);
  const auto named = tools(R"({"type":"function","function":{"name":"get_time"}})");
  EXPECT_EQ(named->choice, ToolChoice::Named);
  EXPECT_EQ(named->named, "get_time");
  EXPECT_EQ(tools()->functions[0].parameters.begin().key(), "type");  // the client's key order

  EXPECT_EQ(refusal(R"({"tool_choice":"required"})"), "400 tool_choice ");
  EXPECT_EQ(refusal(R"({"tools":{}})"), "400 tools ");
  EXPECT_EQ(refusal(R"({"tools":[{"type":"retrieval"}]})"), "400 tools[0].type ");
  EXPECT_EQ(refusal(R"({"tools":[{"type":"function"}]})"), "400 tools[0].function ");
  EXPECT_EQ(refusal(R"({"tools":[{"type":"function","function":{"name":""}}]})"), "400 tools[0].function.name ");
  EXPECT_EQ(refusal(R"({"tools":[{"type":"function","function":{"name":"a","parameters":[]}}]})"),
            "400 tools[0].function.parameters ");
  EXPECT_EQ(refusal(std::string(R"({"tools":[)") + kTime + "," + kTime + "]}"), "400 tools[1].function.name ");
  EXPECT_EQ(refusal(std::string(R"({"tools":[)") + kTime + R"(],"tool_choice":"sometimes"})"), "400 tool_choice ");
  EXPECT_EQ(refusal(std::string(R"({"tools":[)") + kTime +
                    R"(],"tool_choice":{"type":"function","function":{"name":"nope"}}})"),
            "400 tool_choice ");
  EXPECT_EQ(refusal(R"({"tools":[{"type":"function","function":{"name":"a","parameters":)"
                    R"({"type":"object","properties":{"s":{"type":"string","pattern":"x+"}}}}}]})"),
            "400 tools unsupported_schema");
}

// Random byte walks of the required-call grammar: every finished walk is exactly one call,
// of a declared tool, whose arguments hold that tool's required keys with the right types.
TEST(Tools, EveryConstrainedReplyIsAValidCall) {
  for (const std::string& choice : {std::string(R"("required")"), std::string(R"({"type":"function","function":{"name":"get_weather"}})")}) {
    const auto t = tools(choice);
    std::mt19937 rng(7);
    for (int walk = 0; walk < 60; ++walk) {
      json_schema::Acceptor a(*t->grammar);
      std::string text;
      while (!(a.complete() && (!a.can_continue() || rng() % 4 == 0)) && text.size() < 400) {
        std::vector<std::uint8_t> ok;
        for (int b = 0; b < 256; ++b) {
          json_schema::Acceptor probe = a;
          if (probe.feed(static_cast<std::uint8_t>(b))) ok.push_back(static_cast<std::uint8_t>(b));
        }
        ASSERT_FALSE(ok.empty()) << "stuck after: " << text;
        // Prefer printable bytes so that strings end within the length bound.
        std::uint8_t b = ok[rng() % ok.size()];
        for (int tries = 0; tries < 4 && (b < 0x20 || b > 0x7e); ++tries) b = ok[rng() % ok.size()];
        ASSERT_TRUE(a.feed(b));
        text += static_cast<char>(b);
      }
      if (!a.complete()) continue;  // cut by the length bound
      const auto calls = parse_tool_calls(text, *t, "c");
      ASSERT_EQ(calls.size(), 1u) << text;
      const auto args = ojson::parse(calls[0].arguments);
      if (t->choice == ToolChoice::Named) {
        EXPECT_EQ(calls[0].name, "get_weather") << text;
      }
      if (calls[0].name == "get_weather") {
        ASSERT_TRUE(args.contains("city") && args["city"].is_string()) << text;
        for (const auto& item : args.items()) EXPECT_TRUE(item.key() == "city" || item.key() == "unit") << text;
        if (args.contains("unit")) {
          EXPECT_TRUE(args["unit"] == "c" || args["unit"] == "f") << text;
        }
      } else {
        ASSERT_EQ(calls[0].name, "get_time") << text;
        ASSERT_TRUE(args.contains("zone") && args["zone"].is_number_integer()) << text;
      }
      EXPECT_EQ(text_beside_tool_calls(text), "") << text;
    }
  }
}

TEST(Tools, ReadsCallsOutOfAReply) {
  const auto t = tools();
  const std::string reply =
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"launch\", \"arguments\": {}}\n</tool_call>\n"       // not a declared tool
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": 5}\n</tool_call>\n"       // arguments not an object
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}\n</tool_call>"
      "<tool_call>{\"name\": \"get_time\"";                                          // never closed
  const auto calls = parse_tool_calls(reply, *t, "call_x_");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].id, "call_x_0");
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(ojson::parse(calls[0].arguments), ojson::parse(R"({"city":"Oslo"})"));
  EXPECT_EQ(calls[1].name, "get_time");
  EXPECT_EQ(text_beside_tool_calls("Let me check.\n<tool_call>x</tool_call>\n"), "Let me check.");
  EXPECT_TRUE(parse_tool_calls("no calls here", *t, "c").empty());
}

TEST(Tools, RenderedIntoChatMLTurns) {
  const Tokenizer tok = Tokenizer::load(testing::data_path("models/tokenizer.bin"), 32000);
  const std::string body = std::string(R"({"tools":[)") + kWeather +
                           R"(],"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Oslo?"},)"
                           R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
                           R"("function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},)"
                           R"({"role":"tool","tool_call_id":"call_1","content":"12 C"}]})";
  const CompletionRequest r = parse_completion_request(body, Endpoint::ChatCompletions);
  ASSERT_EQ(r.messages.size(), 4u);
  ASSERT_EQ(r.messages[2].tool_calls.size(), 1u);
  const std::string text = tok.decode_all(prompt_tokens(r, tok, ChatTemplate::ChatML));
  const std::string system = "Be brief.\n\n" + tools_system_prompt(*r.tools);
  EXPECT_NE(text.find(system), std::string::npos) << text;
  EXPECT_NE(text.find("\"name\":\"get_weather\""), std::string::npos) << text;  // the signature, in <tools>
  EXPECT_NE(text.find(render_tool_call("get_weather", R"({"city":"Oslo"})")), std::string::npos) << text;
  EXPECT_NE(text.find("<|im_start|>user\n<tool_response>\n12 C\n</tool_response><|im_end|>"), std::string::npos) << text;
  // Templates without tool calls refuse them instead of rendering something the model never saw.
  EXPECT_THROW(prompt_tokens(r, tok, ChatTemplate::Llama2), ApiError);
  // Bad tool history.
  for (const char* bad : {R"({"role":"assistant","tool_calls":{}})",
                          R"({"role":"assistant","tool_calls":[{"function":{"name":"a","arguments":"[1]"}}]})",
                          R"({"role":"assistant","tool_calls":[{"function":{"name":5,"arguments":"{}"}}]})",
                          R"({"role":"tool","content":"x","tool_call_id":3})"}) {
    const std::string b = std::string(R"({"messages":[{"role":"user","content":"a"},)") + bad +
                          R"(,{"role":"user","content":"b"}]})";
    EXPECT_THROW(parse_completion_request(b, Endpoint::ChatCompletions), ApiError) << bad;
  }
}

TEST(Tools, ResponseAndStreamJson) {
  const ResponseMeta m{Endpoint::ChatCompletions, "chatcmpl-1", 1700000000, "stories", false};
  const std::vector<ToolCall> calls = {{"call_0", "get_weather", R"({"city":"Oslo"})"}};
  const auto body = nlohmann::json::parse(completion_body(m, {Choice{"", "tool_calls", calls, std::nullopt}}, {5, 7, 0}));
  const auto& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(choice["message"]["tool_calls"][0]["type"], "function");
  const std::string chunks = tool_calls_chunks(m, calls);
  const auto first = nlohmann::json::parse(chunks.substr(6, chunks.find("\n\n") - 6));
  EXPECT_EQ(first["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(first["choices"][0]["delta"]["tool_calls"][0]["id"], "call_0");
}

}  // namespace
}  // namespace llama2::server
