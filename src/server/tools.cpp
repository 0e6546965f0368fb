#include "server/tools.hpp"

#include "server/openai.hpp"

namespace llama2::server {

using ojson = nlohmann::ordered_json;

namespace {

constexpr std::string_view kOpen = "<tool_call>\n", kClose = "\n</tool_call>";

ApiError bad_tools(const std::string& param, const std::string& message) {
  return ApiError(400, "'" + param + "': " + message, param);
}

const ojson* member(const ojson& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

// {"name": <one of the names>, "arguments": <that function's parameters>} between the
// markers; one alternative per function, so each name goes with its own arguments.
std::shared_ptr<const json_schema::Grammar> call_grammar(const std::vector<const ToolFunction*>& functions) {
  using namespace json_schema;
  auto g = std::make_shared<Grammar>();
  Node any;
  any.kind = NodeKind::AnyOf;
  for (const ToolFunction* f : functions) {
    Node call;
    call.kind = NodeKind::Object;
    call.properties.push_back({"\"name\"", add_literal(*g, ojson(f->name).dump()), true});
    call.properties.push_back({"\"arguments\"", compile_into(*g, f->parameters), true});
    any.children.push_back(g->add(std::move(call)));
  }
  Node seq;
  seq.kind = NodeKind::Sequence;
  seq.children = {add_literal(*g, std::string(kOpen)), g->add(std::move(any)), add_literal(*g, std::string(kClose))};
  g->root = g->add(std::move(seq));
  g->finish();
  return g;
}

}  // namespace

std::shared_ptr<const Tools> parse_tools(const ojson& body) {
  const ojson* list = member(body, "tools");
  const ojson* choice = member(body, "tool_choice");
  if (!list || (list->is_array() && list->empty())) {
    if (choice && *choice != "none" && *choice != "auto")
      throw bad_tools("tool_choice", "needs 'tools'");
    return nullptr;
  }
  if (!list->is_array()) throw bad_tools("tools", "expected an array of tools");
  if (list->size() > 128) throw bad_tools("tools", "at most 128 tools are allowed");
  auto tools = std::make_shared<Tools>();
  for (std::size_t i = 0; i < list->size(); ++i) {
    const ojson& t = (*list)[i];
    const std::string where = "tools[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("type") || t["type"] != "function")
      throw bad_tools(where + ".type", "only tools of type 'function' are supported");
    const ojson* f = member(t, "function");
    if (!f || !f->is_object()) throw bad_tools(where + ".function", "expected an object");
    ToolFunction fn;
    const ojson* name = member(*f, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty() || name->get<std::string>().size() > 64)
      throw bad_tools(where + ".function.name", "expected a name of 1 to 64 characters");
    fn.name = name->get<std::string>();
    for (const ToolFunction& other : tools->functions)
      if (other.name == fn.name) throw bad_tools(where + ".function.name", "'" + fn.name + "' is declared twice");
    if (const ojson* d = member(*f, "description")) {
      if (!d->is_string()) throw bad_tools(where + ".function.description", "expected a string");
      fn.description = d->get<std::string>();
    }
    const ojson* params = member(*f, "parameters");
    if (params && !params->is_object()) throw bad_tools(where + ".function.parameters", "expected a JSON Schema object");
    fn.parameters = params ? *params : ojson{{"type", "object"}};
    tools->functions.push_back(std::move(fn));
  }
  if (!choice || *choice == "auto") {
    tools->choice = ToolChoice::Auto;
  } else if (*choice == "none") {
    tools->choice = ToolChoice::None;
  } else if (*choice == "required") {
    tools->choice = ToolChoice::Required;
  } else if (choice->is_object() && member(*choice, "type") && (*choice)["type"] == "function" &&
             member(*choice, "function") && (*choice)["function"].is_object() &&
             member((*choice)["function"], "name") && (*choice)["function"]["name"].is_string()) {
    tools->choice = ToolChoice::Named;
    tools->named = (*choice)["function"]["name"].get<std::string>();
    bool found = false;
    for (const ToolFunction& f : tools->functions) found = found || f.name == tools->named;
    if (!found) throw bad_tools("tool_choice", "no tool is named '" + tools->named + "'");
  } else {
    throw bad_tools("tool_choice", "expected 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}");
  }
  // Every schema must be enforceable even under "auto": the same tools may be required next turn,
  // and a schema the decoder cannot hold would make that turn fail instead of this one.
  std::vector<const ToolFunction*> callable;
  for (const ToolFunction& f : tools->functions)
    if (tools->choice != ToolChoice::Named || f.name == tools->named) callable.push_back(&f);
  try {
    auto grammar = call_grammar(callable);
    if (tools->choice == ToolChoice::Required || tools->choice == ToolChoice::Named) tools->grammar = std::move(grammar);
  } catch (const json_schema::SchemaError& e) {
    throw ApiError(400, std::string("'tools': ") + e.what(), "tools", "unsupported_schema");
  }
  return tools;
}

std::string tools_system_prompt(const Tools& tools) {
  std::string s =
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
  for (const ToolFunction& f : tools.functions) {
    ojson fn = {{"type", "function"}, {"function", {{"name", f.name}}}};
    if (!f.description.empty()) fn["function"]["description"] = f.description;
    fn["function"]["parameters"] = f.parameters;
    s += '\n';
    s += fn.dump(-1, ' ', false, ojson::error_handler_t::replace);
  }
  s += "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
       "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
       "<args-json-object>}\n</tool_call>";
  return s;
}

std::string render_tool_call(std::string_view name, std::string_view arguments) {
  return std::string(kOpen) + "{\"name\": " + ojson(std::string(name)).dump() + ", \"arguments\": " +
         std::string(arguments) + "}" + std::string(kClose);
}

std::vector<ToolCall> parse_tool_calls(std::string_view text, const Tools& tools, std::string_view id_prefix) {
  std::vector<ToolCall> calls;
  for (std::size_t at = text.find("<tool_call>"); at != std::string_view::npos; at = text.find("<tool_call>", at)) {
    const std::size_t begin = at + std::string_view("<tool_call>").size();
    const std::size_t end = text.find("</tool_call>", begin);
    if (end == std::string_view::npos) break;
    at = end;
    const ojson call = ojson::parse(text.substr(begin, end - begin), nullptr, /*allow_exceptions=*/false);
    if (!call.is_object() || !call.contains("name") || !call["name"].is_string() || !call.contains("arguments") ||
        !call["arguments"].is_object())
      continue;
    const std::string name = call["name"].get<std::string>();
    bool known = false;
    for (const ToolFunction& f : tools.functions) known = known || f.name == name;
    if (!known) continue;
    calls.push_back({std::string(id_prefix) + std::to_string(calls.size()), name,
                     call["arguments"].dump(-1, ' ', false, ojson::error_handler_t::replace)});
  }
  return calls;
}

std::string text_beside_tool_calls(std::string_view text) {
  std::string out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t open = text.find("<tool_call>", at);
    out += text.substr(at, open == std::string_view::npos ? std::string_view::npos : open - at);
    if (open == std::string_view::npos) break;
    const std::size_t close = text.find("</tool_call>", open);
    if (close == std::string_view::npos) break;
    at = close + std::string_view("</tool_call>").size();
  }
  const std::size_t b = out.find_first_not_of(" \n\t"), e = out.find_last_not_of(" \n\t");
  return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

}  // namespace llama2::server
