// The OpenAI-compatible API surface: parsing and validating request bodies, and building the
// JSON of responses, stream chunks and errors. No HTTP and no model here, so every rule of
// the protocol is unit-testable on strings.
#pragma once
#include <cstdint>
#include <optional>
#include <utility>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "generation/chat_template.hpp"
#include "server/tools.hpp"
#include "sampling/json_schema.hpp"

namespace llama2 {
class Tokenizer;
}

namespace llama2::server {

// A request the API refuses, with the HTTP status and the fields of OpenAI's error object:
// {"error": {"message", "type", "param", "code"}} (empty param/code are sent as null).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message),
        status(status),
        type(std::move(type)),
        param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string type;
  std::string param;
  std::string code;
};

// The JSON body for an error.
std::string error_body(const ApiError& error);

enum class Endpoint { Completions, ChatCompletions };

struct ChatMessage {
  std::string role;  // system, user, assistant or tool ("developer" is read as system)
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant: the calls it made (their ids, names, arguments)
};

// A validated /v1/completions or /v1/chat/completions request.
struct CompletionRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;
  // Completions: the prompt as text, or as token ids when the client sent ids.
  std::string prompt;
  std::optional<std::vector<TokenId>> prompt_ids;
  // Chat: the conversation so far; the last message is the user's.
  std::vector<ChatMessage> messages;
  std::optional<int> max_tokens;  // unset: the rest of the context
  float temperature = 1.0f;       // 0 = greedy
  float top_p = 1.0f;             // 1 = no nucleus cut
  // llama.cpp's and OpenAI's further controls, see SamplerSettings (all off by default).
  int top_k = 0;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<TokenId, float>> logit_bias;  // ids not yet checked against the vocabulary
  int n = 1;                          // choices, each sampled from the same prompt
  std::optional<int> logprobs;        // set: report each token's logprob and this many alternatives
  std::optional<std::uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
  // response_format json_object / json_schema: the grammar the reply is held to.
  std::shared_ptr<const json_schema::Grammar> grammar;
  // Chat: the tools the model may call (null: none), see server/tools.hpp.
  std::shared_ptr<const Tools> tools;
};

// Parses and validates a request body. Throws ApiError (400) for malformed JSON, a wrong
// type, a value out of range, or a feature this server does not implement (best_of, echo,
// suffix, ...): silently ignoring those would return something the client did not
// ask for. Fields that do not change the output (user, metadata, ...) are ignored.
CompletionRequest parse_completion_request(std::string_view body, Endpoint endpoint);

// The token ids the model sees: BOS + the prompt for completions; for chat, every turn in
// the model's template, as chat mode feeds them (user turns by encode_user_turn, each earlier
// assistant reply followed by the template's end-of-turn token). Throws ApiError for token
// ids outside the vocabulary.
std::vector<TokenId> prompt_tokens(const CompletionRequest& request, const Tokenizer& tokenizer,
                                   const ChatFormat& chat_format);

// The number of tokens to generate: max_tokens, or the rest of the context. Throws ApiError
// (400, code context_length_exceeded) when the prompt plus max_tokens do not fit in `context`.
int resolve_max_tokens(const CompletionRequest& request, int prompt_tokens, int context);

// ---- responses ----

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens served by the prompt cache: prompt_tokens_details.cached_tokens
};

// What every response and chunk of one request shares.
struct ResponseMeta {
  Endpoint endpoint = Endpoint::Completions;
  std::string id;  // cmpl-... / chatcmpl-...
  std::int64_t created = 0;
  std::string model;
  bool include_usage = false;  // streaming: chunks carry "usage": null, then a usage chunk
};

// One generated token as logprobs reports it: its text, its log-probability, and the most
// likely tokens at its position (after logit bias, penalties and a grammar's mask; before
// temperature and truncation, as llama-server reports them).
struct TokenLogprob {
  std::string token;
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;
};

// One choice of a whole response.
struct Choice {
  std::string text;  // with tool calls: the text beside them (null content when empty)
  std::string finish_reason;  // "stop", "length" or "tool_calls"
  std::vector<ToolCall> tool_calls;
  std::optional<std::vector<TokenLogprob>> logprobs;  // null unless requested
};

// A whole (non-streamed) response: choices[i] has index i.
std::string completion_body(const ResponseMeta& meta, const std::vector<Choice>& choices, const Usage& usage);

// The logprobs of one stream chunk: its tokens, and where the choice's text stood before the
// chunk (the legacy completions format gives each token's text_offset).
struct ChunkLogprobs {
  std::vector<TokenLogprob> tokens;
  std::size_t text_offset = 0;
};

// One server-sent event "data: {...}\n\n" for choice `index`. For chat, the first chunk
// carries the role (`first`); the last carries the finish_reason (non-empty) and no text.
std::string stream_chunk(const ResponseMeta& meta, std::string_view text, std::string_view finish_reason,
                         bool first = false, int index = 0, const ChunkLogprobs* logprobs = nullptr);
// The stream chunks of tool calls: for each, one delta with its index, id, type and name, and
// one with its arguments.
std::string tool_calls_chunks(const ResponseMeta& meta, const std::vector<ToolCall>& calls, int choice = 0);
// The usage event sent after the last chunk when the client asked for it.
std::string stream_usage_chunk(const ResponseMeta& meta, const Usage& usage);
// An error reported inside a stream whose 200 status has already been sent.
std::string stream_error(const ApiError& error);
inline constexpr std::string_view kStreamDone = "data: [DONE]\n\n";

// GET /v1/models for a server of one model.
std::string models_body(const std::string& model, std::int64_t created);

}  // namespace llama2::server
