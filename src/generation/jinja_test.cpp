// The Jinja interpreter on its own: what chat templates rely on, and templates that must be
// refused with one line (a model file's template is untrusted input). Rendering the real
// templates against @huggingface/jinja is tests/chat (chat_jinja_oracle).
#include "generation/jinja.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace llama2::jinja {
namespace {

std::string render(std::string_view source, const Json& context = Json::object()) {
  return Template::parse(source).render(context);
}

std::string error_of(std::string_view source, const Json& context = Json::object()) {
  try {
    render(source, context);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Jinja, WhitespaceControlTrimBlocksAndLstripBlocks) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: the indent before one.
  EXPECT_EQ(render("{% if true %}\n    x\n    {% endif %}\ny"), "    x\ny");
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("a {{- 'b' -}} c {{ 'd' }}\ne"), "abc d\ne");  // no trim after an output tag
  EXPECT_EQ(render("a {# note #}\nb"), "a b");
}

TEST(Jinja, ScopesLoopsAndNamespaces) {
  const Json ctx = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(render("{% set n = 0 %}{% for x in xs %}{% set n = n + 1 %}{% endfor %}{{ n }}", ctx), "0");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", ctx),
            "3");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index0 }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", ctx),
            "0a,1b,2c");
  EXPECT_EQ(render("{% for x in xs if x != 'b' %}{{ loop.length }}{{ x }}{% endfor %}", ctx), "2a2c");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{{ xs[::-1] | join }}{{ xs[-1] }}{{ xs[5] is defined }}", ctx), "cbacfalse");
}

TEST(Jinja, PythonStringSemantics) {
  EXPECT_EQ(render("{{ '\\n\\nx\\n '.lstrip('\\n') }}"), "x\n ");  // strip's argument is honoured
  EXPECT_EQ(render("{{ 'a</think>b'.split('</think>')[-1] }}"), "b");
  EXPECT_EQ(render("{{ '東京タワー'[1:3] }}|{{ '東京' | length }}"), "京タ|2");  // characters, not bytes
  EXPECT_EQ(render("{{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4.0 }}"), "-4 2 1024 3.5 4.0");
  EXPECT_EQ(render("{{ {'b': [1, 'x'], 'a': none} | tojson }}"), "{\"b\": [1, \"x\"], \"a\": null}");
}

TEST(Jinja, BuiltinFunctions) {
  EXPECT_EQ(render("{{ strftime_now is defined }}"), "true");
  RenderOptions fixed;
  fixed.now = [] {
    std::tm t{};
    t.tm_year = 124, t.tm_mon = 6, t.tm_mday = 26;
    return t;
  };
  EXPECT_EQ(Template::parse("{{ strftime_now('%d %b %Y') }}").render(Json::object(), fixed), "26 Jul 2024");
  EXPECT_EQ(render("{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}"), "135");
  EXPECT_NE(error_of("{{ raise_exception('Only user and assistant roles') }}").find("Only user and assistant roles"),
            std::string::npos);
}

TEST(Jinja, RefusesBadTemplatesWithOneLine) {
  const char* const bad[] = {
      "{% if x %}never closed",
      "{% endfor %}",
      "{% macro m() %}{% endmacro %}",
      "{{ 'unterminated }}",
      "{{ x | no_such_filter }}",
      "{{ 1 + }}",
      "{% for %}{% endfor %}",
      "{{ x ? y }}",
      "{% set a.b %}{% endset %}",
      "{{ [1, 2][0:1:0] }}",
      "{{ 1 // 0 }}",
      "line one\n{{ 'a' + 1 }}",
      // 64-bit integers refuse to overflow (found by fuzz_jinja)
      "{{ 9223372036854775807 + 1 }}",
      "{{ -(-9223372036854775807 - 1) }}",
      "{{ 2 ** 63 }}",
      "{{ (-9223372036854775807 - 1) // -1 }}",
      "{{ [1][1e300] }}",
  };
  for (const char* source : bad) {
    const std::string message = error_of(source);
    EXPECT_NE(message, "(no error)") << source;
    EXPECT_EQ(message.find('\n'), std::string::npos) << source << " -> " << message;
  }
  EXPECT_NE(error_of("line one\n{{ 'a' + 1 }}").find("line 2"), std::string::npos);
  // Extreme but valid: a range and a slice whose bounds do not fit a 64-bit difference.
  EXPECT_EQ(render("{{ range(-9223372036854775807, 9223372036854775807, 9223372036854775807) | join(',') }}"),
            "-9223372036854775807,0");
  EXPECT_EQ(render("{{ [1, 2, 3][::9223372036854775807] | join }}|{{ [1, 2, 3][::-9223372036854775807] | join }}"), "1|3");
}

TEST(Jinja, HostileTemplatesAreStoppedNotObeyed) {
  // Deep nesting would exhaust the parser's stack; runaway loops would hang; huge output
  // would exhaust memory. Each is refused.
  EXPECT_NE(error_of("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}").find("nested"), std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(100000, '-') + "1 }}").find("nested"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs).find("nested"), std::string::npos);
  EXPECT_NE(error_of("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}").find("steps"),
            std::string::npos);
  EXPECT_NE(error_of("{% set s = namespace(t='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set s.t = s.t + s.t %}"
                     "{{ s.t }}{% endfor %}")
                .find("MiB"),
            std::string::npos);
}

}  // namespace
}  // namespace llama2::jinja
