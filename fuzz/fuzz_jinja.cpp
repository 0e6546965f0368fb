// libFuzzer target for the Jinja chat-template interpreter (a GGUF file's template is untrusted
// input): the input is a template, parsed and then rendered with a small conversation. Parsing
// and rendering may refuse with llama2::Error; anything else escaping, a crash, or a hang (the
// renderer's step and output bounds) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/error.hpp"
#include "generation/jinja.hpp"

using llama2::jinja::Json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  static const Json context = {
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}},
        {{"role", "user"}, {"content", "Hi \xe6\x9d\xb1 <think>x</think>"}},
        {{"role", "assistant"},
         {"content", ""},
         {"tool_calls", {{{"type", "function"}, {"function", {{"name", "f"}, {"arguments", {{"a", 1}}}}}}}}},
        {{"role", "user"}, {"content", "Bye"}}}},
      {"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"}};
  llama2::jinja::RenderOptions options;
  options.now = [] {
    std::tm t{};
    t.tm_year = 126, t.tm_mon = 11, t.tm_mday = 5;
    return t;
  };
  try {
    const auto tmpl = llama2::jinja::Template::parse(source);
    tmpl.render(context, options);
  } catch (const llama2::Error&) {
    // refused with a message: fine
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_jinja: an exception other than llama2::Error: %s\n", e.what());
    std::abort();
  }
  return 0;
}
