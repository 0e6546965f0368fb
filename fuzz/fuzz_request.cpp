// libFuzzer target for what the server does with a request body before any model runs:
// parse_completion_request, prompt_tokens (with a small vocabulary that has the chat
// templates' marker pieces), resolve_max_tokens, and the error and response bodies. A body
// the API refuses must come out as an ApiError with a 4xx status whose JSON body is valid;
// any other exception, or an accepted request outside the documented ranges, is a bug.
//
// Input layout:
//   byte 0    bits 0-1: chat template (Llama2, Zephyr, ChatML; 3 = ChatML); bit 2: chat
//             endpoint (else completions); bits 3-7: context length = 8 * (1 + value)
//   the rest  the request body
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "generation/chat_template.hpp"
#include "sampling/json_schema.hpp"
#include "server/openai.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

using llama2::server::ApiError;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_request: %s\n", what);
  std::abort();
}

// <unk>, <s>, </s>, the 256 byte tokens, a few words, and the templates' markers.
const llama2::Tokenizer& vocabulary() {
  static const llama2::Tokenizer tokenizer = [] {
    std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      pieces.emplace_back(name);
    }
    for (const char* p : {"\xE2\x96\x81", "\xE2\x96\x81the", "\xE2\x96\x81user", "[INST]", "[/INST]", "<<SYS>>",
                          "<</SYS>>", "<|user|>", "<|assistant|>", "<|system|>", "<|im_start|>", "<|im_end|>",
                          "e", "t", "a", "\xE2\x96\x81" "a", "th", "he"})
      pieces.emplace_back(p);
    std::vector<float> scores(pieces.size());
    for (std::size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
    return llama2::Tokenizer(std::move(pieces), std::move(scores));
  }();
  return tokenizer;
}

void check_error(const ApiError& e) {
  if (e.status < 400 || e.status > 499) fail("an ApiError outside 4xx");
  const auto body = nlohmann::json::parse(llama2::server::error_body(e), nullptr, false);
  if (body.is_discarded() || !body.contains("error") || !body["error"].is_object()) fail("error body is not valid JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const llama2::ChatTemplate tmpl = (flags & 3) == 0   ? llama2::ChatTemplate::Llama2
                                    : (flags & 3) == 1 ? llama2::ChatTemplate::Zephyr
                                                       : llama2::ChatTemplate::ChatML;
  const auto endpoint = (flags & 4) ? llama2::server::Endpoint::ChatCompletions : llama2::server::Endpoint::Completions;
  const int context = 8 * (1 + (flags >> 3));
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  llama2::server::CompletionRequest request;
  try {
    request = llama2::server::parse_completion_request(body, endpoint);
  } catch (const ApiError& e) {
    check_error(e);
    return 0;
  } catch (const std::exception&) {
    fail("parse_completion_request threw something other than ApiError");
  }
  if (!(request.temperature >= 0.0f) || !std::isfinite(request.temperature)) fail("temperature out of range");
  if (!(request.top_p >= 0.0f && request.top_p <= 1.0f)) fail("top_p out of range");
  if (request.max_tokens && *request.max_tokens < 1) fail("max_tokens below 1");
  if (request.top_k < 0 || !(request.min_p >= 0.0f && request.min_p <= 1.0f)) fail("top_k / min_p out of range");
  if (!(request.repeat_penalty > 0.0f) || request.repeat_last_n < -1) fail("repeat penalty out of range");
  if (!(std::fabs(request.presence_penalty) <= 2.0f) || !(std::fabs(request.frequency_penalty) <= 2.0f))
    fail("presence / frequency penalty out of range");
  for (const auto& [id, bias] : request.logit_bias)
    if (id < 0 || !(std::fabs(bias) <= 100.0f)) fail("logit_bias out of range");
  if (request.n < 1 || request.n > 16) fail("n out of range");
  if (request.logprobs && (*request.logprobs < 0 || *request.logprobs > 20)) fail("logprobs out of range");
  if (request.endpoint == llama2::server::Endpoint::ChatCompletions && request.messages.empty())
    fail("a chat request without messages");

  try {
    const std::vector<llama2::TokenId> ids = llama2::server::prompt_tokens(request, vocabulary(), tmpl);
    for (llama2::TokenId id : ids)
      if (id < 0 || id >= vocabulary().vocab_size()) fail("prompt_tokens gave an id outside the vocabulary");
    const int n = llama2::server::resolve_max_tokens(request, static_cast<int>(ids.size()), context);
    if (n < 1 || static_cast<long long>(ids.size()) + n > context) fail("resolve_max_tokens does not fit the context");
  } catch (const ApiError& e) {
    check_error(e);
    return 0;
  } catch (const std::exception&) {
    fail("prompt_tokens/resolve_max_tokens threw something other than ApiError");
  }

  // Echo the accepted request's strings through the response builders: always valid JSON.
  llama2::server::ResponseMeta meta;
  meta.endpoint = request.endpoint;
  meta.id = "cmpl-fuzz";
  meta.model = request.model;
  const std::string text = request.messages.empty() ? request.prompt : request.messages.back().content;
  // The text as n choices, with logprobs when asked (its bytes as tokens: invalid UTF-8 too).
  std::vector<llama2::server::Choice> choices(static_cast<std::size_t>(request.n));
  llama2::server::ChunkLogprobs chunk_logprobs;
  for (auto& choice : choices) {
    choice.text = text;
    choice.finish_reason = "stop";
    if (!request.logprobs) continue;
    choice.logprobs.emplace();
    for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
      llama2::server::TokenLogprob t{text.substr(i, 1), -1.0f, {}};
      for (int k = 0; k < *request.logprobs; ++k) t.top.emplace_back(text.substr(i, 2), -1.0f - k);
      choice.logprobs->push_back(t);
    }
    chunk_logprobs.tokens = *choice.logprobs;
  }
  if (nlohmann::json::parse(llama2::server::completion_body(meta, choices, {}), nullptr, false).is_discarded())
    fail("completion body is not valid JSON");
  const std::string chunk = llama2::server::stream_chunk(meta, text, "", true, request.n - 1,
                                                         request.logprobs ? &chunk_logprobs : nullptr);
  if (chunk.rfind("data: ", 0) != 0 ||
      nlohmann::json::parse(chunk.substr(6), nullptr, false).is_discarded())
    fail("stream chunk is not an event with valid JSON");

  // A response_format grammar: feed it the message text byte by byte (the acceptor must
  // never crash, and any text it calls a whole value must be valid JSON), then a greedy walk
  // of its smallest allowed bytes must stay live until complete.
  if (request.grammar) {
    llama2::json_schema::Acceptor acceptor(*request.grammar);
    std::string fed;
    for (char c : text) {
      if (!acceptor.feed(static_cast<std::uint8_t>(c))) break;
      fed.push_back(c);
    }
    if (acceptor.complete() && !nlohmann::json::accept(fed)) fail("the acceptor took text that is not JSON");
    llama2::json_schema::Acceptor walk(*request.grammar);
    std::string walked;
    for (int steps = 0; !walk.complete() && steps < 2000; ++steps) {
      int b = 0;
      // Closing bytes first, so that the walk ends.
      for (char c : std::string_view("\"]}0tfn")) if (walk.feed(static_cast<std::uint8_t>(c))) { b = -1; walked.push_back(c); break; }
      if (b == -1) continue;
      while (b < 256 && !walk.feed(static_cast<std::uint8_t>(b))) ++b;
      if (b == 256) fail("the acceptor reached a dead end before a whole value");
      walked.push_back(static_cast<char>(b));
    }
    if (walk.complete() && !nlohmann::json::accept(walked)) fail("a completed walk is not JSON");
  }
  return 0;
}
