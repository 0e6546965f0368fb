#include "server/openai.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.hpp"

namespace llama2::server {

using nlohmann::json;

namespace {

// Every body goes out through here: invalid UTF-8 in generated text becomes U+FFFD.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json null_if_empty(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

ApiError bad_field(const std::string& field, const std::string& message) {
  return ApiError(400, "'" + field + "': " + message, field);
}
ApiError unsupported(const std::string& field, const std::string& what) {
  return ApiError(400, "'" + field + "': " + what + " is not supported by this server", field, "unsupported_parameter");
}

// The field's value, or nullptr when it is absent or null (OpenAI treats both as "default").
const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

float number_in(const json& body, const char* name, float fallback, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_number()) throw bad_field(name, "expected a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    throw bad_field(name, "must be between " + dump(lo) + " and " + dump(hi) + ", got " + dump(x));
  return static_cast<float>(x);
}

bool boolean(const json& body, const char* name, bool fallback) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_boolean()) throw bad_field(name, "expected a boolean");
  return v->get<bool>();
}

std::optional<std::int64_t> integer(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw bad_field(name, "expected an integer");
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    throw bad_field(name, "is too large");
  return v->get<std::int64_t>();
}

// Rejects the fields whose features this server does not have, unless they hold the value
// that means "off". Accepting them silently would return an answer of another kind.
void reject_unsupported(const json& body, Endpoint endpoint) {
  if (auto b = integer(body, "best_of"); b && *b != 1) throw unsupported("best_of", "best_of other than 1");
  if (endpoint == Endpoint::Completions) {
    if (boolean(body, "echo", false)) throw unsupported("echo", "echo");
    if (const json* v = field(body, "suffix"); v && !(v->is_string() && v->get<std::string>().empty()))
      throw unsupported("suffix", "suffix");
  } else {
    // The legacy function-calling fields (tools and tool_choice replace them).
    if (const json* v = field(body, "functions"); v && !(v->is_array() && v->empty()))
      throw unsupported("functions", "the legacy 'functions' (use 'tools')");
    if (const json* v = field(body, "function_call"); v && *v != "none" && *v != "auto")
      throw unsupported("function_call", "the legacy 'function_call' (use 'tool_choice')");
    if (const json* v = field(body, "modalities"); v && *v != json::array({"text"}))
      throw unsupported("modalities", "output other than text");
  }
}

constexpr int kMaxChoices = 16;
constexpr int kMaxTopLogprobs = 20;

int integer_in(const json& body, const char* name, int fallback, std::int64_t lo, std::int64_t hi) {
  const auto v = integer(body, name);
  if (!v) return fallback;
  if (*v < lo || *v > hi)
    throw bad_field(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                              std::to_string(*v));
  return static_cast<int>(*v);
}

// logit_bias: {"token id": bias in [-100, 100]}, as OpenAI takes it (ids as strings).
std::vector<std::pair<TokenId, float>> parse_logit_bias(const json& body) {
  const json* v = field(body, "logit_bias");
  if (!v) return {};
  if (!v->is_object()) throw bad_field("logit_bias", "expected an object mapping token ids to biases");
  std::vector<std::pair<TokenId, float>> bias;
  for (const auto& [key, value] : v->items()) {
    // Digits only, at most 9 of them: a token id, never a sign, space or overflow.
    if (key.empty() || key.size() > 9 || key.find_first_not_of("0123456789") != std::string::npos)
      throw bad_field("logit_bias", "key '" + key + "' is not a token id");
    if (!value.is_number()) throw bad_field("logit_bias", "the bias of token " + key + " is not a number");
    const double b = value.get<double>();
    if (!(b >= -100.0 && b <= 100.0))
      throw bad_field("logit_bias", "the bias of token " + key + " must be between -100 and 100");
    bias.emplace_back(static_cast<TokenId>(std::stol(key)), static_cast<float>(b));
  }
  return bias;
}

// The sampling controls beyond temperature and top_p, and n / logprobs.
void parse_sampling(const json& body, Endpoint endpoint, CompletionRequest& r) {
  r.top_k = integer_in(body, "top_k", 0, 0, INT32_MAX);
  r.min_p = number_in(body, "min_p", 0.0f, 0.0, 1.0);
  r.repeat_penalty = number_in(body, "repeat_penalty", 1.0f, 0.0, 10.0);
  if (!(r.repeat_penalty > 0.0f)) throw bad_field("repeat_penalty", "must be greater than 0 (1 is off)");
  r.repeat_last_n = integer_in(body, "repeat_last_n", 64, -1, INT32_MAX);
  r.presence_penalty = number_in(body, "presence_penalty", 0.0f, -2.0, 2.0);
  r.frequency_penalty = number_in(body, "frequency_penalty", 0.0f, -2.0, 2.0);
  r.logit_bias = parse_logit_bias(body);
  r.n = integer_in(body, "n", 1, 1, kMaxChoices);
  if (endpoint == Endpoint::Completions) {
    // The legacy API: logprobs is the number of alternatives.
    if (field(body, "logprobs")) r.logprobs = integer_in(body, "logprobs", 0, 0, kMaxTopLogprobs);
  } else {
    const bool on = boolean(body, "logprobs", false);
    if (field(body, "top_logprobs") && !on) throw bad_field("top_logprobs", "needs 'logprobs': true");
    if (on) r.logprobs = integer_in(body, "top_logprobs", 0, 0, kMaxTopLogprobs);
  }
}

// response_format: text (the default), json_object (any JSON object) or json_schema (a value
// valid against json_schema.schema). The schema is read again from the body text with its
// key order kept: properties are generated in the order the client declared them.
std::shared_ptr<const json_schema::Grammar> parse_response_format(const json& body, std::string_view text) {
  const json* v = field(body, "response_format");
  if (!v) return nullptr;
  if (!v->is_object()) throw bad_field("response_format", "expected an object");
  // Compared as JSON: json::value("type", "text") would throw a type_error for a type that
  // is not a string (found by fuzz_request).
  const json* type = field(*v, "type");
  if (type && !type->is_string()) throw bad_field("response_format.type", "expected a string");
  if (!type || *type == "text") return nullptr;
  try {
    if (*type == "json_object") return std::make_shared<const json_schema::Grammar>(json_schema::any_object());
    if (*type != "json_schema")
      throw bad_field("response_format.type", "expected 'text', 'json_object' or 'json_schema'");
    const json* spec = field(*v, "json_schema");
    if (!spec || !spec->is_object()) throw bad_field("response_format.json_schema", "expected an object");
    if (const json* name = field(*spec, "name"); name && !name->is_string())
      throw bad_field("response_format.json_schema.name", "expected a string");
    if (const json* strict = field(*spec, "strict"); strict && !strict->is_boolean())
      throw bad_field("response_format.json_schema.strict", "expected a boolean");
    if (!field(*spec, "schema")) return std::make_shared<const json_schema::Grammar>(json_schema::compile_schema(true));
    const auto ordered = nlohmann::ordered_json::parse(text);
    return std::make_shared<const json_schema::Grammar>(
        json_schema::compile_schema(ordered["response_format"]["json_schema"]["schema"]));
  } catch (const json_schema::SchemaError& e) {
    throw ApiError(400, std::string("'response_format': ") + e.what(), "response_format", "unsupported_schema");
  }
}

std::vector<std::string> parse_stop(const json& body) {
  const json* v = field(body, "stop");
  if (!v) return {};
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const json& s : *v) {
      if (!s.is_string()) throw bad_field("stop", "expected a string or an array of strings");
      stops.push_back(s.get<std::string>());
    }
  } else {
    throw bad_field("stop", "expected a string or an array of strings");
  }
  if (stops.size() > 4) throw bad_field("stop", "at most 4 stop sequences are allowed");
  for (const std::string& s : stops)
    if (s.empty()) throw bad_field("stop", "stop sequences must not be empty");
  return stops;
}

std::vector<TokenId> parse_ids(const json& array) {
  std::vector<TokenId> ids;
  for (const json& t : array) {
    if (!t.is_number_integer()) throw bad_field("prompt", "expected a string, or an array of token ids");
    const auto id = t.get<std::int64_t>();
    if (id < 0 || id > INT32_MAX) throw bad_field("prompt", "token id " + std::to_string(id) + " is out of range");
    ids.push_back(static_cast<TokenId>(id));
  }
  return ids;
}

// prompt: a string, or an array of one string, or token ids (flat, or an array of one array).
void parse_prompt(const json& body, CompletionRequest& r) {
  const json* v = field(body, "prompt");
  if (!v) throw ApiError(400, "'prompt' is required", "prompt");
  if (v->is_string()) {
    r.prompt = v->get<std::string>();
    return;
  }
  if (!v->is_array()) throw bad_field("prompt", "expected a string, or an array of token ids");
  if (v->size() == 1 && (*v)[0].is_string()) {
    r.prompt = (*v)[0].get<std::string>();
    return;
  }
  if (!v->empty() && (*v)[0].is_array()) {
    if (v->size() != 1) throw unsupported("prompt", "more than one prompt per request");
    r.prompt_ids = parse_ids((*v)[0]);
    return;
  }
  if (!v->empty() && (*v)[0].is_string()) throw unsupported("prompt", "more than one prompt per request");
  r.prompt_ids = parse_ids(*v);
}

std::string message_content(const json& m, std::size_t index, bool may_be_null) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  const auto it = m.find("content");
  if (it == m.end() || it->is_null()) {
    if (may_be_null) return {};
    throw ApiError(400, "'" + where + "' is required", where);
  }
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw bad_field(where, "expected a string or an array of text parts");
  // An array of content parts: only text parts can be fed to a text model.
  std::string text;
  for (const json& part : *it) {
    // Compared as JSON, never json::value(), which throws a type_error for a non-string type.
    const auto type = part.is_object() ? part.find("type") : part.end();
    if (!part.is_object() || type == part.end() || *type != "text" || !part.contains("text") ||
        !part["text"].is_string())
      throw unsupported(where, "content other than text parts");
    text += part["text"].get<std::string>();
  }
  return text;
}

void parse_messages(const json& body, CompletionRequest& r) {
  const json* v = field(body, "messages");
  if (!v) throw ApiError(400, "'messages' is required", "messages");
  if (!v->is_array() || v->empty()) throw bad_field("messages", "expected a non-empty array of messages");
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_field(where, "expected an object");
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw bad_field(where + ".role", "expected a string");
    std::string name = role->get<std::string>();
    if (name == "developer") name = "system";
    if (name != "system" && name != "user" && name != "assistant" && name != "tool") {
      if (name == "function") throw unsupported(where + ".role", "the legacy 'function' role (use 'tool')");
      throw bad_field(where + ".role", "unknown role '" + name + "'");
    }
    ChatMessage message{name, {}, {}};
    if (name == "assistant" && m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      const json& calls = m["tool_calls"];
      if (!calls.is_array()) throw bad_field(where + ".tool_calls", "expected an array");
      for (std::size_t c = 0; c < calls.size(); ++c) {
        const std::string at = where + ".tool_calls[" + std::to_string(c) + "]";
        const json& call = calls[c];
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
          throw bad_field(at + ".function", "expected an object");
        const json& f = call["function"];
        if (!f.contains("name") || !f["name"].is_string()) throw bad_field(at + ".function.name", "expected a string");
        if (!f.contains("arguments") || !f["arguments"].is_string())
          throw bad_field(at + ".function.arguments", "expected a string of JSON");
        const json args = json::parse(f["arguments"].get<std::string>(), nullptr, false);
        if (!args.is_object()) throw bad_field(at + ".function.arguments", "expected a JSON object, as text");
        std::string id = call.contains("id") && call["id"].is_string() ? call["id"].get<std::string>() : "";
        message.tool_calls.push_back({id, f["name"].get<std::string>(), dump(args)});
      }
    }
    if (name == "tool" && m.contains("tool_call_id") && !m["tool_call_id"].is_string())
      throw bad_field(where + ".tool_call_id", "expected a string");
    message.content = message_content(m, i, name == "assistant");
    r.messages.push_back(std::move(message));
  }
  if (r.messages.back().role != "user" && r.messages.back().role != "tool")
    throw bad_field("messages", "the last message must be the user's or a tool's (the reply is generated for it)");
}

}  // namespace

std::string error_body(const ApiError& e) {
  return dump({{"error",
                {{"message", e.what()}, {"type", e.type}, {"param", null_if_empty(e.param)},
                 {"code", null_if_empty(e.code)}}}});
}

CompletionRequest parse_completion_request(std::string_view text, Endpoint endpoint) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    throw ApiError(400, "the request body is not valid JSON", {}, "invalid_json");
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object", {}, "invalid_json");

  CompletionRequest r;
  r.endpoint = endpoint;
  reject_unsupported(body, endpoint);
  if (const json* v = field(body, "model")) {
    if (!v->is_string()) throw bad_field("model", "expected a string");
    r.model = v->get<std::string>();
  }
  if (endpoint == Endpoint::Completions)
    parse_prompt(body, r);
  else
    parse_messages(body, r);

  // max_completion_tokens is the chat API's newer name for max_tokens.
  std::optional<std::int64_t> max_tokens = integer(body, "max_tokens");
  if (endpoint == Endpoint::ChatCompletions && !max_tokens) {
    max_tokens = integer(body, "max_completion_tokens");
    if (max_tokens && *max_tokens < 1) throw bad_field("max_completion_tokens", "must be at least 1");
  }
  if (max_tokens) {
    if (*max_tokens < 1) throw bad_field("max_tokens", "must be at least 1");
    r.max_tokens = static_cast<int>(std::min<std::int64_t>(*max_tokens, INT32_MAX));
  }
  r.temperature = number_in(body, "temperature", 1.0f, 0.0, 2.0);
  r.top_p = number_in(body, "top_p", 1.0f, 0.0, 1.0);
  if (auto seed = integer(body, "seed")) r.seed = static_cast<std::uint64_t>(*seed);
  parse_sampling(body, endpoint, r);
  r.stop = parse_stop(body);
  r.grammar = parse_response_format(body, text);
  if (endpoint == Endpoint::ChatCompletions) {
    // Parsed again in key order: a tool's parameters keep the client's property order.
    r.tools = parse_tools(nlohmann::ordered_json::parse(text));
    if (r.tools && r.tools->grammar && r.grammar)
      throw bad_field("response_format", "cannot be combined with a required tool call");
  }
  r.stream = boolean(body, "stream", false);
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) throw bad_field("stream_options", "expected an object");
    if (!r.stream) throw bad_field("stream_options", "is only allowed when 'stream' is true");
    r.include_usage = boolean(*v, "include_usage", false);
  }
  return r;
}

std::vector<TokenId> prompt_tokens(const CompletionRequest& r, const Tokenizer& tokenizer, const ChatFormat& format) {
  if (r.endpoint == Endpoint::Completions) {
    if (!r.prompt_ids) return tokenizer.encode_prompt(r.prompt);
    // Token ids are taken as given; an empty list still needs a first token to predict from.
    std::vector<TokenId> ids = r.prompt_ids->empty() ? std::vector<TokenId>{tokenizer.bos()} : *r.prompt_ids;
    for (TokenId id : ids)
      if (id >= tokenizer.vocab_size())
        throw ApiError(400,
                       "'prompt': token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                           std::to_string(tokenizer.vocab_size() - 1) + ")",
                       "prompt");
    return ids;
  }
  bool tool_history = false;
  for (const ChatMessage& m : r.messages) tool_history = tool_history || m.role == "tool" || !m.tool_calls.empty();
  // The model's own template writes the conversation; tool calls use the built-in ChatML
  // rendering, whose replies the server knows how to parse.
  if (format.jinja && !r.tools && !tool_history) {
    jinja::Json messages = jinja::Json::array();
    for (const ChatMessage& m : r.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    try {
      return encode_conversation(tokenizer, *format.jinja, messages, /*add_generation_prompt=*/true);
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "messages");
    }
  }
  const ChatTemplate tmpl = format.builtin;
  // The system messages (wherever they are) form the system prompt of the first user turn.
  std::string system;
  for (const ChatMessage& m : r.messages) {
    if (m.role != "system") continue;
    if (!system.empty()) system += "\n";
    system += m.content;
  }
  if ((r.tools || tool_history) && tmpl != ChatTemplate::ChatML)
    throw ApiError(400,
                   std::string("tool calling needs a chat template that defines it (chatml); this server renders ") +
                       chat_template_name(tmpl),
                   r.tools ? "tools" : "messages", "unsupported_parameter");
  if (r.tools) system += (system.empty() ? "" : "\n\n") + tools_system_prompt(*r.tools);
  // An earlier reply ends with the token that ends a turn of this template, fed back as chat
  // mode feeds it (ChatML's <|im_end|> when the vocabulary has it, else EOS).
  const TokenId end_of_turn = chat_end_of_turn(tokenizer, tmpl);
  std::vector<TokenId> ids;
  bool first = true;
  for (const ChatMessage& m : r.messages) {
    if (m.role == "user" || m.role == "tool") {
      // A tool's result is a user turn of its own, wrapped as the template expects.
      const std::string text =
          m.role == "tool" ? "<tool_response>\n" + m.content + "\n</tool_response>" : m.content;
      const std::vector<TokenId> turn = encode_user_turn(tokenizer, tmpl, system, text, first);
      ids.insert(ids.end(), turn.begin(), turn.end());
      first = false;
    } else if (m.role == "assistant") {
      std::string text = m.content;
      for (const ToolCall& call : m.tool_calls)
        text += (text.empty() ? "" : "\n") + render_tool_call(call.name, call.arguments);
      const std::vector<TokenId> reply = tokenizer.encode(text, /*bos=*/false, /*eos=*/false);
      ids.insert(ids.end(), reply.begin(), reply.end());
      ids.push_back(end_of_turn);
    }
  }
  return ids;
}

int resolve_max_tokens(const CompletionRequest& r, int prompt_tokens, int context) {
  if (prompt_tokens >= context)
    throw ApiError(400,
                   "the prompt has " + std::to_string(prompt_tokens) + " tokens but the context holds " +
                       std::to_string(context) + " (the reply needs at least one more)",
                   r.endpoint == Endpoint::Completions ? "prompt" : "messages", "context_length_exceeded");
  const int room = context - prompt_tokens;
  if (!r.max_tokens) return room;
  if (*r.max_tokens > room)
    throw ApiError(400,
                   "this model's context holds " + std::to_string(context) + " tokens, but " +
                       std::to_string(prompt_tokens) + " prompt tokens + max_tokens " + std::to_string(*r.max_tokens) +
                       " = " + std::to_string(prompt_tokens + static_cast<std::int64_t>(*r.max_tokens)),
                   "max_tokens", "context_length_exceeded");
  return *r.max_tokens;
}

// ---- responses ----

namespace {

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json envelope(const ResponseMeta& m, bool chunk) {
  const bool chat = m.endpoint == Endpoint::ChatCompletions;
  // Legacy completions use one object name for whole responses and stream chunks alike.
  const char* object = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", m.id}, {"object", object}, {"created", m.created}, {"model", m.model}};
}

json finish(std::string_view reason) { return reason.empty() ? json(nullptr) : json(reason); }

}  // namespace

namespace {

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const ToolCall& c : calls)
    out.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

json bytes_of(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(c);
  return out;
}

// Chat: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}.
// Completions (legacy): {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
json logprobs_json(Endpoint endpoint, const std::vector<TokenLogprob>& tokens, std::size_t text_offset) {
  if (endpoint == Endpoint::ChatCompletions) {
    json content = json::array();
    for (const TokenLogprob& t : tokens) {
      json top = json::array();
      for (const auto& [text, lp] : t.top) top.push_back({{"token", text}, {"logprob", lp}, {"bytes", bytes_of(text)}});
      content.push_back({{"token", t.token}, {"logprob", t.logprob}, {"bytes", bytes_of(t.token)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
  }
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const TokenLogprob& t : tokens) {
    out["tokens"].push_back(t.token);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const auto& [text, lp] : t.top)
      if (!top.contains(text)) top[text] = lp;  // two ids with one text: the likelier one
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(text_offset);
    text_offset += t.token.size();
  }
  return out;
}

}  // namespace

std::string completion_body(const ResponseMeta& m, const std::vector<Choice>& choices, const Usage& usage) {
  json body = envelope(m, false);
  body["choices"] = json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    json choice = {{"index", i},
                   {"logprobs", c.logprobs ? logprobs_json(m.endpoint, *c.logprobs, 0) : json(nullptr)},
                   {"finish_reason", finish(c.finish_reason)}};
    if (m.endpoint == Endpoint::ChatCompletions) {
      json message = {{"role", "assistant"}, {"content", c.text}};
      if (!c.tool_calls.empty()) {
        message["content"] = c.text.empty() ? json(nullptr) : json(c.text);
        message["tool_calls"] = tool_calls_json(c.tool_calls);
      }
      choice["message"] = message;
    } else {
      choice["text"] = c.text;
    }
    body["choices"].push_back(choice);
  }
  body["usage"] = usage_json(usage);
  return dump(body);
}

std::string tool_calls_chunks(const ResponseMeta& m, const std::vector<ToolCall>& calls, int index) {
  std::string out;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json head = {{"index", i}, {"id", calls[i].id}, {"type", "function"},
                       {"function", {{"name", calls[i].name}, {"arguments", ""}}}};
    const json args = {{"index", i}, {"function", {{"arguments", calls[i].arguments}}}};
    for (const json& delta : {head, args}) {
      json body = envelope(m, true);
      body["choices"] = json::array({{{"index", index},
                                      {"logprobs", nullptr},
                                      {"finish_reason", nullptr},
                                      {"delta", {{"tool_calls", json::array({delta})}}}}});
      if (m.include_usage) body["usage"] = nullptr;
      out += "data: " + dump(body) + "\n\n";
    }
  }
  return out;
}

std::string stream_chunk(const ResponseMeta& m, std::string_view text, std::string_view finish_reason, bool first,
                         int index, const ChunkLogprobs* logprobs) {
  json body = envelope(m, true);
  json choice = {{"index", index},
                 {"logprobs", logprobs ? logprobs_json(m.endpoint, logprobs->tokens, logprobs->text_offset) : json(nullptr)},
                 {"finish_reason", finish(finish_reason)}};
  if (m.endpoint == Endpoint::ChatCompletions) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (finish_reason.empty()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  body["choices"] = json::array({choice});
  if (m.include_usage) body["usage"] = nullptr;
  return "data: " + dump(body) + "\n\n";
}

std::string stream_usage_chunk(const ResponseMeta& m, const Usage& usage) {
  json body = envelope(m, true);
  body["choices"] = json::array();
  body["usage"] = usage_json(usage);
  return "data: " + dump(body) + "\n\n";
}

std::string stream_error(const ApiError& e) { return "data: " + error_body(e) + "\n\n"; }

std::string models_body(const std::string& model, std::int64_t created) {
  return dump({{"object", "list"},
               {"data", json::array({{{"id", model}, {"object", "model"}, {"created", created},
                                      {"owned_by", "llama2-cpp"}}})}});
}

}  // namespace llama2::server
