#include "server/openai.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::server {
namespace {

using nlohmann::json;

CompletionRequest completion(const std::string& body) { return parse_completion_request(body, Endpoint::Completions); }
CompletionRequest chat(const std::string& body) { return parse_completion_request(body, Endpoint::ChatCompletions); }

// The ApiError a body gets, as "status param code".
std::string rejection(const std::string& body, Endpoint endpoint = Endpoint::Completions) {
  try {
    parse_completion_request(body, endpoint);
  } catch (const ApiError& e) {
    return std::to_string(e.status) + " " + e.param + " " + e.code;
  }
  return "accepted";
}

TEST(OpenAiRequest, ParsesEveryField) {
  const CompletionRequest r = completion(
      R"({"model":"m","prompt":"Hi","max_tokens":7,"temperature":0,"top_p":0.5,"seed":-3,"stop":"\n",)"
      R"("stream":true,"stream_options":{"include_usage":true},"user":"u","n":1,"some_new_field":[1]})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "Hi");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.temperature, 0.0f);
  EXPECT_EQ(r.top_p, 0.5f);
  EXPECT_EQ(r.seed, static_cast<std::uint64_t>(-3));
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(OpenAiRequest, DefaultsAndNulls) {
  const CompletionRequest r = completion(R"({"prompt":"x","max_tokens":null,"temperature":null,"stop":null})");
  EXPECT_FALSE(r.max_tokens);
  EXPECT_EQ(r.temperature, 1.0f);
  EXPECT_EQ(r.top_p, 1.0f);
  EXPECT_FALSE(r.seed);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_FALSE(r.stream);
}

TEST(OpenAiRequest, PromptForms) {
  EXPECT_EQ(completion(R"({"prompt":["one"]})").prompt, "one");
  EXPECT_EQ(*completion(R"({"prompt":[1,5,9]})").prompt_ids, (std::vector<TokenId>{1, 5, 9}));
  EXPECT_EQ(*completion(R"({"prompt":[[1,5]]})").prompt_ids, (std::vector<TokenId>{1, 5}));
  EXPECT_EQ(rejection(R"({"prompt":["a","b"]})"), "400 prompt unsupported_parameter");
  EXPECT_EQ(rejection(R"({"prompt":[[1],[2]]})"), "400 prompt unsupported_parameter");
  EXPECT_EQ(rejection(R"({"prompt":[1,-2]})"), "400 prompt ");
  EXPECT_EQ(rejection(R"({"prompt":[1,"a"]})"), "400 prompt ");
  EXPECT_EQ(rejection(R"({"prompt":5})"), "400 prompt ");
  EXPECT_EQ(rejection(R"({})"), "400 prompt ");
}

TEST(OpenAiRequest, MalformedBodies) {
  EXPECT_EQ(rejection(""), "400  invalid_json");
  EXPECT_EQ(rejection("{\"prompt\":"), "400  invalid_json");
  EXPECT_EQ(rejection("[]"), "400  invalid_json");
  EXPECT_EQ(rejection("\"text\""), "400  invalid_json");
}

TEST(OpenAiRequest, WrongTypesNameTheField) {
  EXPECT_EQ(rejection(R"({"prompt":"x","max_tokens":"5"})"), "400 max_tokens ");
  EXPECT_EQ(rejection(R"({"prompt":"x","max_tokens":5.5})"), "400 max_tokens ");
  EXPECT_EQ(rejection(R"({"prompt":"x","temperature":"hot"})"), "400 temperature ");
  EXPECT_EQ(rejection(R"({"prompt":"x","stream":"yes"})"), "400 stream ");
  EXPECT_EQ(rejection(R"({"prompt":"x","seed":1.5})"), "400 seed ");
  EXPECT_EQ(rejection(R"({"prompt":"x","stop":5})"), "400 stop ");
  EXPECT_EQ(rejection(R"({"prompt":"x","stop":["a",1]})"), "400 stop ");
  EXPECT_EQ(rejection(R"({"prompt":"x","model":3})"), "400 model ");
  EXPECT_EQ(rejection(R"({"prompt":"x","stream_options":{"include_usage":true}})"), "400 stream_options ");
}

TEST(OpenAiRequest, RangesAreChecked) {
  EXPECT_EQ(rejection(R"({"prompt":"x","temperature":2.5})"), "400 temperature ");
  EXPECT_EQ(rejection(R"({"prompt":"x","temperature":-0.1})"), "400 temperature ");
  EXPECT_EQ(rejection(R"({"prompt":"x","top_p":1.5})"), "400 top_p ");
  EXPECT_EQ(rejection(R"({"prompt":"x","max_tokens":0})"), "400 max_tokens ");
  EXPECT_EQ(rejection(R"({"prompt":"x","stop":["a","b","c","d","e"]})"), "400 stop ");
  EXPECT_EQ(rejection(R"({"prompt":"x","stop":""})"), "400 stop ");
}

TEST(OpenAiRequest, UnsupportedFeaturesAreRefusedNotIgnored) {
  EXPECT_EQ(rejection(R"({"prompt":"x","best_of":3})"), "400 best_of unsupported_parameter");
  EXPECT_EQ(rejection(R"({"prompt":"x","echo":true})"), "400 echo unsupported_parameter");
  EXPECT_EQ(rejection(R"({"prompt":"x","suffix":"end"})"), "400 suffix unsupported_parameter");
  const std::string user = R"({"messages":[{"role":"user","content":"x"}],)";
  const auto chat_rejection = [&](const std::string& extra) { return rejection(user + extra + "}", Endpoint::ChatCompletions); };
  EXPECT_EQ(chat_rejection(R"("functions":[{}])"), "400 functions unsupported_parameter");
  EXPECT_EQ(chat_rejection(R"("function_call":"auto2")"), "400 function_call unsupported_parameter");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":0})"), "400 response_format.type ");
  // The values that mean "off" are fine.
  EXPECT_EQ(rejection(R"({"prompt":"x","n":1,"best_of":1,"logprobs":null,"echo":false,"suffix":"",)"
                      R"("logit_bias":{},"presence_penalty":0,"frequency_penalty":0})"),
            "accepted");
  EXPECT_EQ(chat_rejection(R"("logprobs":false,"tools":[],"tool_choice":"none","response_format":{"type":"text"})"),
            "accepted");
}

TEST(OpenAiRequest, SamplingControls) {
  const CompletionRequest r = completion(
      R"({"prompt":"x","top_k":40,"min_p":0.05,"repeat_penalty":1.1,"repeat_last_n":-1,"presence_penalty":0.5,)"
      R"("frequency_penalty":-0.5,"logit_bias":{"13":-100,"7":2.5},"n":3,"logprobs":2})");
  EXPECT_EQ(r.top_k, 40);
  EXPECT_FLOAT_EQ(r.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.repeat_penalty, 1.1f);
  EXPECT_EQ(r.repeat_last_n, -1);
  EXPECT_FLOAT_EQ(r.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.frequency_penalty, -0.5f);
  EXPECT_EQ(r.logit_bias, (std::vector<std::pair<TokenId, float>>{{13, -100.0f}, {7, 2.5f}}));
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.logprobs, 2);
  const CompletionRequest plain = completion(R"({"prompt":"x"})");
  EXPECT_EQ(plain.n, 1);
  EXPECT_FALSE(plain.logprobs);
  EXPECT_EQ(plain.top_k, 0);
  EXPECT_EQ(plain.repeat_penalty, 1.0f);
  const auto chat = parse_completion_request(
      R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":5})", Endpoint::ChatCompletions);
  EXPECT_EQ(chat.logprobs, 5);
  const auto chat_no_top = parse_completion_request(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true})",
                                                    Endpoint::ChatCompletions);
  EXPECT_EQ(chat_no_top.logprobs, 0);
}

TEST(OpenAiRequest, SamplingControlsOutOfRangeAre400s) {
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("top_k":-1)", "top_k"},
           {R"("top_k":1.5)", "top_k"},
           {R"("min_p":1.5)", "min_p"},
           {R"("min_p":"a")", "min_p"},
           {R"("repeat_penalty":0)", "repeat_penalty"},
           {R"("repeat_penalty":11)", "repeat_penalty"},
           {R"("repeat_last_n":-2)", "repeat_last_n"},
           {R"("presence_penalty":2.5)", "presence_penalty"},
           {R"("frequency_penalty":-2.01)", "frequency_penalty"},
           {R"("logit_bias":[1,2])", "logit_bias"},
           {R"("logit_bias":{"a":1})", "logit_bias"},
           {R"("logit_bias":{"-1":1})", "logit_bias"},
           {R"("logit_bias":{"99999999999":1})", "logit_bias"},
           {R"("logit_bias":{"5":101})", "logit_bias"},
           {R"("logit_bias":{"5":"x"})", "logit_bias"},
           {R"("n":0)", "n"},
           {R"("n":17)", "n"},
           {R"("n":"2")", "n"},
           {R"("logprobs":21)", "logprobs"},
           {R"("logprobs":-1)", "logprobs"},
           {R"("logprobs":true)", "logprobs"},
       }) {
    EXPECT_EQ(rejection(R"({"prompt":"x",)" + extra + "}"), "400 " + param + " ") << extra;
  }
  const std::string user = R"({"messages":[{"role":"user","content":"x"}],)";
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("top_logprobs":2)", "top_logprobs"},
           {R"("logprobs":true,"top_logprobs":21)", "top_logprobs"},
           {R"("logprobs":2)", "logprobs"},
       }) {
    EXPECT_EQ(rejection(user + extra + "}", Endpoint::ChatCompletions), "400 " + param + " ") << extra;
  }
}

TEST(OpenAiRequest, ResponseFormat) {
  const std::string user = R"({"messages":[{"role":"user","content":"x"}],)";
  const auto chat_rejection = [&](const std::string& extra) { return rejection(user + extra + "}", Endpoint::ChatCompletions); };
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"xml"})"), "400 response_format.type ");
  EXPECT_EQ(chat_rejection(R"("response_format":[])"), "400 response_format ");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"json_schema"})"), "400 response_format.json_schema ");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"json_schema","json_schema":{"name":3,"schema":{}}})"),
            "400 response_format.json_schema.name ");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"json_schema","json_schema":{"strict":"yes","schema":{}}})"),
            "400 response_format.json_schema.strict ");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"json_schema","json_schema":{"schema":{"type":"string","pattern":"a"}}})"),
            "400 response_format unsupported_schema");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"json_schema","json_schema":{"schema":7}})"),
            "400 response_format unsupported_schema");
  EXPECT_EQ(chat_rejection(R"("response_format":{"type":"json_object"})"), "accepted");
  EXPECT_EQ(rejection(R"({"prompt":"x","response_format":{"type":"json_object"}})"), "accepted");
  // The grammar keeps the declared key order (the body is read again as ordered JSON).
  const CompletionRequest r = chat(user + R"("response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,)"
                                   R"("schema":{"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"boolean"}},)"
                                   R"("required":["z","a"]}}}})");
  ASSERT_TRUE(r.grammar);
  json_schema::Acceptor in_order(*r.grammar), reversed(*r.grammar);
  EXPECT_TRUE(in_order.feed(R"({"z":1,"a":true})") && in_order.complete());
  EXPECT_FALSE(reversed.feed(R"({"a":true,"z":1})"));
  EXPECT_FALSE(chat(user + R"("response_format":{"type":"text"}})").grammar);
}

TEST(OpenAiRequest, ChatMessages) {
  const CompletionRequest r = chat(
      R"({"messages":[{"role":"developer","content":"Be kind."},{"role":"user","content":[{"type":"text","text":"He"},)"
      R"({"type":"text","text":"llo"}]},{"role":"assistant","content":null},{"role":"user","content":"Bye"}],)"
      R"("max_completion_tokens":9})");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Hello");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.max_tokens, 9);
  const auto bad = [](const std::string& messages) {
    return rejection(R"({"messages":)" + messages + "}", Endpoint::ChatCompletions);
  };
  EXPECT_EQ(bad("[]"), "400 messages ");
  EXPECT_EQ(bad(R"("hi")"), "400 messages ");
  EXPECT_EQ(bad(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"}])"), "400 messages ");
  EXPECT_EQ(bad(R"([{"role":"wizard","content":"a"}])"), "400 messages[0].role ");
  EXPECT_EQ(bad(R"([{"role":"function","content":"a"}])"), "400 messages[0].role unsupported_parameter");
  EXPECT_EQ(bad(R"([{"role":"tool"}])"), "400 messages[0].content ");
  EXPECT_EQ(bad(R"([{"role":"user"}])"), "400 messages[0].content ");
  EXPECT_EQ(bad(R"([{"role":"user","content":[{"type":"image_url","image_url":{}}]}])"),
            "400 messages[0].content unsupported_parameter");
  EXPECT_EQ(bad(R"([{"role":"user","content":[{"type":5,"text":"a"}]}])"),
            "400 messages[0].content unsupported_parameter");
  EXPECT_EQ(rejection(R"({"prompt":"x"})", Endpoint::ChatCompletions), "400 messages ");
}

TEST(OpenAiRequest, MaxTokensAgainstTheContext) {
  CompletionRequest r = completion(R"({"prompt":"x"})");
  EXPECT_EQ(resolve_max_tokens(r, 10, 64), 54);  // the rest of the context by default
  r.max_tokens = 54;
  EXPECT_EQ(resolve_max_tokens(r, 10, 64), 54);
  r.max_tokens = 55;
  try {
    resolve_max_tokens(r, 10, 64);
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.code, "context_length_exceeded");
    EXPECT_EQ(e.param, "max_tokens");
  }
  EXPECT_THROW(resolve_max_tokens(r, 64, 64), ApiError);  // no room for even one token
}

TEST(OpenAiRequest, PromptTokensFollowTheChatTemplate) {
  const Tokenizer tok = Tokenizer::load(testing::data_path("models/tokenizer.bin"), 32000);
  EXPECT_EQ(prompt_tokens(completion(R"({"prompt":"Hello"})"), tok, ChatTemplate::Llama2), tok.encode("Hello", true, false));
  EXPECT_EQ(prompt_tokens(completion(R"({"prompt":[]})"), tok, ChatTemplate::Llama2), std::vector<TokenId>{kBosToken});
  EXPECT_THROW(prompt_tokens(completion(R"({"prompt":[1,32000]})"), tok, ChatTemplate::Llama2), ApiError);

  const CompletionRequest r = chat(
      R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"A"},)"
      R"({"role":"assistant","content":"B"},{"role":"user","content":"C"}]})");
  std::vector<TokenId> expected = encode_user_turn(tok, ChatTemplate::Llama2, "S", "A", true);
  for (TokenId t : tok.encode("B", false, false)) expected.push_back(t);
  expected.push_back(kEosToken);
  for (TokenId t : encode_user_turn(tok, ChatTemplate::Llama2, "S", "C", false)) expected.push_back(t);
  EXPECT_EQ(prompt_tokens(r, tok, ChatTemplate::Llama2), expected);
}

TEST(OpenAiRequest, TheModelsJinjaTemplateWritesChatPrompts) {
  const Tokenizer tok = Tokenizer::load(testing::data_path("models/tokenizer.bin"), 32000);
  ChatFormat format(ChatTemplate::Llama2);
  format.jinja = std::make_shared<const jinja::Template>(jinja::Template::parse(
      "{% for m in messages %}{{ bos_token if loop.first }}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}"
      "{% if messages[0].role != 'system' %}{{ raise_exception('a conversation starts with a system message') }}{% endif %}"));
  const CompletionRequest r =
      chat(R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"A"}]})");
  jinja::Json messages = {{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", "A"}}};
  const std::vector<TokenId> ids = prompt_tokens(r, tok, format);
  EXPECT_EQ(ids, encode_conversation(tok, *format.jinja, messages, true));
  EXPECT_EQ(ids.front(), kBosToken);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), kEosToken), 2);
  // The template's raise_exception is the client's 400, naming the messages.
  try {
    prompt_tokens(chat(R"({"messages":[{"role":"user","content":"A"}]})"), tok, format);
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "messages");
    EXPECT_NE(std::string(e.what()).find("a conversation starts with a system message"), std::string::npos) << e.what();
  }
}

// ---- responses ----

ResponseMeta meta(Endpoint e, bool usage = false) { return {e, "id-1", 1700000000, "stories", usage}; }

json event_json(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  return json::parse(event.substr(6, event.size() - 8));
}

TEST(OpenAiResponse, CompletionBody) {
  const json j = json::parse(completion_body(meta(Endpoint::Completions), {Choice{"Once", "length", {}, std::nullopt}}, {3, 4, 2}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"], "id-1");
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["choices"][0]["text"], "Once");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"], json({{"prompt_tokens", 3},
                              {"completion_tokens", 4},
                              {"total_tokens", 7},
                              {"prompt_tokens_details", {{"cached_tokens", 2}}}}));

  const json c = json::parse(completion_body(meta(Endpoint::ChatCompletions), {Choice{"Hi", "stop", {}, std::nullopt}}, {1, 1}));
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"], json({{"role", "assistant"}, {"content", "Hi"}}));
}

TEST(OpenAiResponse, ChoicesAndLogprobs) {
  const std::vector<TokenLogprob> lp = {{"Hi", -0.5f, {{"Hi", -0.5f}, {"Ho", -1.5f}}}, {" there", -0.25f, {}}};
  const std::vector<Choice> choices = {{"Hi there", "stop", {}, lp}, {"Yo", "length", {}, std::nullopt}};
  const json chat = json::parse(completion_body(meta(Endpoint::ChatCompletions), choices, {2, 3}));
  ASSERT_EQ(chat["choices"].size(), 2u);
  EXPECT_EQ(chat["choices"][1]["index"], 1);
  EXPECT_EQ(chat["choices"][1]["finish_reason"], "length");
  EXPECT_TRUE(chat["choices"][1]["logprobs"].is_null());
  const json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], "Hi");
  EXPECT_EQ(content[0]["logprob"], -0.5);
  EXPECT_EQ(content[0]["bytes"], json({72, 105}));
  EXPECT_EQ(content[0]["top_logprobs"][1], json({{"token", "Ho"}, {"logprob", -1.5}, {"bytes", {72, 111}}}));
  EXPECT_EQ(content[1]["top_logprobs"], json::array());

  const json legacy = json::parse(completion_body(meta(Endpoint::Completions), choices, {2, 3}));
  const json& l = legacy["choices"][0]["logprobs"];
  EXPECT_EQ(l["tokens"], json({"Hi", " there"}));
  EXPECT_EQ(l["token_logprobs"], json({-0.5, -0.25}));
  EXPECT_EQ(l["top_logprobs"][0], json({{"Hi", -0.5}, {"Ho", -1.5}}));
  EXPECT_EQ(l["text_offset"], json({0, 2}));

  // A stream chunk of choice 2 carries its index and its tokens' offsets past the text before.
  const ChunkLogprobs chunk{{{"a", -1.0f, {}}, {"bc", -2.0f, {}}}, 10};
  const json e = event_json(stream_chunk(meta(Endpoint::Completions), "abc", "", false, 2, &chunk));
  EXPECT_EQ(e["choices"][0]["index"], 2);
  EXPECT_EQ(e["choices"][0]["logprobs"]["text_offset"], json({10, 11}));
}

TEST(OpenAiResponse, CompletionChunks) {
  const json first = event_json(stream_chunk(meta(Endpoint::Completions), " upon", ""));
  EXPECT_EQ(first["object"], "text_completion");
  EXPECT_EQ(first["choices"][0]["text"], " upon");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));
  const json last = event_json(stream_chunk(meta(Endpoint::Completions), "", "stop"));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(kStreamDone, "data: [DONE]\n\n");
}

TEST(OpenAiResponse, ChatChunks) {
  const json role = event_json(stream_chunk(meta(Endpoint::ChatCompletions, true), "", "", /*first=*/true));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role.contains("usage") && role["usage"].is_null());  // include_usage: null until the end
  const json piece = event_json(stream_chunk(meta(Endpoint::ChatCompletions), "Hi", ""));
  EXPECT_EQ(piece["choices"][0]["delta"], json({{"content", "Hi"}}));
  const json end = event_json(stream_chunk(meta(Endpoint::ChatCompletions), "", "length"));
  EXPECT_EQ(end["choices"][0]["delta"], json::object());
  EXPECT_EQ(end["choices"][0]["finish_reason"], "length");
  const json usage = event_json(stream_usage_chunk(meta(Endpoint::ChatCompletions, true), {5, 6}));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 11);
}

TEST(OpenAiResponse, InvalidUtf8BecomesReplacementCharacter) {
  // A byte-fallback token can end mid-character; the response must still be valid JSON.
  const json j = event_json(stream_chunk(meta(Endpoint::Completions), "a\xE2\x96", ""));
  EXPECT_EQ(j["choices"][0]["text"], "a\xEF\xBF\xBD");
}

TEST(OpenAiResponse, ErrorBodies) {
  const json e = json::parse(error_body(ApiError(400, "bad 'n'", "n", "unsupported_parameter")));
  EXPECT_EQ(e["error"]["message"], "bad 'n'");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "n");
  EXPECT_EQ(e["error"]["code"], "unsupported_parameter");
  const json bare = json::parse(error_body(ApiError(503, "busy", {}, {}, "server_error")));
  EXPECT_TRUE(bare["error"]["param"].is_null());
  EXPECT_TRUE(bare["error"]["code"].is_null());
  EXPECT_EQ(bare["error"]["type"], "server_error");
  EXPECT_EQ(stream_error(ApiError(500, "x")).rfind("data: {\"error\":", 0), 0u);
}

TEST(OpenAiResponse, Models) {
  const json j = json::parse(models_body("stories", 5));
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "stories");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

}  // namespace
}  // namespace llama2::server
