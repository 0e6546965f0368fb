// A small Jinja interpreter for the chat templates models ship (GGUF's tokenizer.chat_template,
// Hugging Face's tokenizer_config.json). It covers what those templates use, with the options
// Hugging Face renders them with (trim_blocks, lstrip_blocks):
//   {{ expr }}, {% if/elif/else %}, {% for x in xs %} (with loop.*, else, tuple unpacking, a
//   trailing `if`), {% set x = e %}, {% set ns.x = e %}, {% set x %}...{% endset %}, comments,
//   whitespace control ({%- -%} {{- -}});
//   literals, lists, dicts, a.b, a['b'], a[i], slices a[i:j:k], calls, filters, `is` tests,
//   `in`, `not in`, arithmetic, `~`, comparisons, and/or/not, `x if c else y`;
//   the functions raise_exception, range, namespace, dict, strftime_now; the common filters
//   and string/dict methods (strip, split, startswith, items, get, ...).
// Anything else (macros, call blocks, include) is refused by name when the template is parsed,
// so a caller can fall back to a built-in template. Values are JSON (insertion-ordered).
#pragma once
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace llama2::jinja {

using Json = nlohmann::ordered_json;

struct Program;  // the parsed template (jinja_ast.hpp)

struct RenderOptions {
  // strftime_now's clock; the default is the current local time.
  std::function<std::tm()> now;
};

class Template {
 public:
  // Parses a template. Throws Error naming the line and the problem on a syntax error or an
  // unsupported construct.
  static Template parse(std::string_view source);

  // Renders with `context` (an object: messages, bos_token, add_generation_prompt, ...).
  // Throws Error on a runtime error, including the template's own raise_exception(...).
  std::string render(const Json& context, const RenderOptions& options = {}) const;

 private:
  explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace llama2::jinja
