// Tool calling in /v1/chat/completions, in the format of the ChatML (Qwen2.5 / Hermes) chat
// templates that define it: the tools' signatures go into the system prompt inside
// <tools></tools>, the model calls one as <tool_call>{"name": ..., "arguments": {...}}</tool_call>,
// and a tool's result comes back in a user turn inside <tool_response></tool_response>.
// With tool_choice "required" or a named function the reply is held to that form by the
// constrained decoder (sampling/constraint.hpp), so the arguments always validate against the
// function's parameters schema; with "auto" the reply is read for tool calls afterwards.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/json_schema.hpp"

namespace llama2::server {

struct ToolFunction {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters;  // a JSON Schema ({"type": "object"} when not given)
};

enum class ToolChoice { None, Auto, Required, Named };

struct ToolCall {
  std::string id;         // "call_..."
  std::string name;
  std::string arguments;  // a JSON object, as text (the API sends it as a string)
};

struct Tools {
  std::vector<ToolFunction> functions;
  ToolChoice choice = ToolChoice::Auto;
  std::string named;  // ToolChoice::Named: the function
  // Required / Named: the language of a reply that is exactly one tool call.
  std::shared_ptr<const json_schema::Grammar> grammar;
};

// `tools` and `tool_choice` of a request body (parsed again in key order, so the parameters
// keep the client's property order). Null when the request has no tools. Throws ApiError
// (400) for malformed fields, an unknown named function, or a parameters schema the
// constrained decoder cannot enforce.
std::shared_ptr<const Tools> parse_tools(const nlohmann::ordered_json& body);

// The system-prompt block that lists the tools and how to call them.
std::string tools_system_prompt(const Tools& tools);

// One call as the model writes it.
std::string render_tool_call(std::string_view name, std::string_view arguments);

// The tool calls in a reply: every <tool_call> block whose JSON names one of the tools and has
// object arguments. Ids are id_prefix + index.
std::vector<ToolCall> parse_tool_calls(std::string_view text, const Tools& tools, std::string_view id_prefix);

// The reply's text outside its tool-call blocks, trimmed (the message's content beside them).
std::string text_beside_tool_calls(std::string_view text);

}  // namespace llama2::server
