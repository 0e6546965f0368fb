// Program -> text. Values are JSON plus "undefined" (a missing name or key: falsy, prints
// nothing, `is defined` false), as in Jinja. Variables live in a stack of scopes: a for loop
// opens one, so a `set` inside the loop does not leak out, which is why templates use
// namespace() objects to carry state across iterations.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "core/utf8.hpp"
#include "generation/jinja_ast.hpp"

namespace llama2::jinja {

namespace {

struct Value {
  Json json;
  bool undefined = false;
  bool function = false;  // a built-in function's name, e.g. `strftime_now is defined`
  static Value missing() { return {Json(), true}; }
};

bool is_builtin_function(std::string_view name) {
  return name == "raise_exception" || name == "range" || name == "namespace" || name == "dict" ||
         name == "strftime_now";
}

[[noreturn]] void fail(const Expr& at, const std::string& what) {
  throw Error("chat template line " + std::to_string(at.line) + ": " + what);
}

bool truthy(const Value& v) {
  if (v.undefined) return false;
  const Json& j = v.json;
  if (j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<std::int64_t>() != 0;
  if (j.is_number()) return j.get<double>() != 0.0;
  if (j.is_string()) return !j.get_ref<const std::string&>().empty();
  return !j.empty();
}

// The bytes of the character at s[i] (an ill-formed sequence counts as one character).
std::size_t char_bytes(std::string_view s, std::size_t i) {
  std::size_t bad;
  char32_t cp;
  const std::size_t n = utf8_sequence(s, i, bad, cp);
  return n ? n : bad;
}

const char* type_name(const Value& v) {
  if (v.undefined) return "undefined";
  return v.json.type_name();
}

// JSON as Hugging Face's tojson writes it: ", " and ": " separators (",", ": " and one item per
// line with an indent), keys in insertion order, non-ASCII text as is.
void to_json(const Json& j, int indent, int depth, std::string& out) {
  if (!j.is_array() && !j.is_object()) {
    out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  const bool array = j.is_array();
  out += array ? '[' : '{';
  const std::string pad = indent > 0 ? "\n" + std::string(static_cast<std::size_t>(indent * (depth + 1)), ' ') : "";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!first) out += indent > 0 ? "," : ", ";
    first = false;
    out += pad;
    if (!array) out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace) + ": ";
    to_json(*it, indent, depth + 1, out);
  }
  if (indent > 0 && !j.empty()) out += "\n" + std::string(static_cast<std::size_t>(indent * depth), ' ');
  out += array ? ']' : '}';
}

// What {{ value }} prints.
std::string to_text(const Value& v) {
  if (v.undefined || v.json.is_null()) return "";
  const Json& j = v.json;
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_float()) {
    const double d = j.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e16) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f", d);
      return buf;
    }
  }
  if (j.is_array() || j.is_object()) {
    std::string out;
    to_json(j, 0, 0, out);
    return out;
  }
  return j.dump();
}

std::string need_string(const Expr& at, const Value& v, const char* what) {
  if (!v.json.is_string() || v.undefined) fail(at, std::string(what) + " needs a string, not " + type_name(v));
  return v.json.get_ref<const std::string&>();
}

std::int64_t need_int(const Expr& at, const Value& v, const char* what) {
  if (v.undefined || !v.json.is_number()) fail(at, std::string(what) + " needs a number, not " + type_name(v));
  if (v.json.is_number_integer()) return v.json.get<std::int64_t>();
  const double d = v.json.get<double>();
  if (!(d > -9.2e18 && d < 9.2e18)) fail(at, std::string(what) + ": " + v.json.dump() + " is out of range");
  return static_cast<std::int64_t>(d);
}

// a + b, a - b or a * b, refusing to overflow (Python's integers do not; ours are 64-bit).
std::int64_t int_op(const Expr& at, char op, std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &r)
                        : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow) fail(at, "integer overflow");
  return r;
}

std::string strip(std::string_view s, std::string_view chars, bool left, bool right) {
  std::size_t b = 0, e = s.size();
  if (left)
    while (b < e && chars.find(s[b]) != std::string_view::npos) ++b;
  if (right)
    while (e > b && chars.find(s[e - 1]) != std::string_view::npos) --e;
  return std::string(s.substr(b, e - b));
}
constexpr std::string_view kWhitespace = " \t\n\r\f\v";

std::string change_case(std::string s, bool upper) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(upper ? std::toupper(c) : std::tolower(c));
  return s;
}

std::int64_t length_of(const Expr& at, const Value& v) {
  if (v.json.is_string()) {
    const std::string& s = v.json.get_ref<const std::string&>();
    std::int64_t n = 0;
    for (std::size_t i = 0; i < s.size(); i += char_bytes(s, i)) ++n;
    return n;
  }
  if (v.json.is_array() || v.json.is_object()) return static_cast<std::int64_t>(v.json.size());
  fail(at, std::string("length of ") + type_name(v));
}

// A string's characters, as Python indexes, slices and iterates it.
std::vector<std::string> characters(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size(); i += char_bytes(s, i)) out.push_back(s.substr(i, char_bytes(s, i)));
  return out;
}

// Python's slice: bounds normalised, strings cut by characters.
Json slice(const Expr& at, const Json& seq, const Value& first, const Value& last, const Value& step_v) {
  const std::vector<std::string> chars = seq.is_string() ? characters(seq.get<std::string>()) : std::vector<std::string>();
  const auto n = static_cast<std::int64_t>(seq.is_string() ? chars.size() : seq.size());
  std::int64_t step = step_v.undefined || step_v.json.is_null() ? 1 : need_int(at, step_v, "a slice step");
  if (step == 0) fail(at, "a slice step of 0");
  step = std::clamp<std::int64_t>(step, -n - 1, n + 1);  // a longer step takes the same one item
  auto bound = [&](const Value& v, std::int64_t fallback) {
    if (v.undefined || v.json.is_null()) return fallback;
    std::int64_t i = need_int(at, v, "a slice bound");
    if (i < 0) i += n;
    return step > 0 ? std::clamp<std::int64_t>(i, 0, n) : std::clamp<std::int64_t>(i, -1, n - 1);
  };
  const std::int64_t b = bound(first, step > 0 ? 0 : n - 1), e = bound(last, step > 0 ? n : -1);
  std::string text;
  Json list = Json::array();
  for (std::int64_t i = b; step > 0 ? i < e : i > e; i += step) {
    if (seq.is_string()) text += chars[static_cast<std::size_t>(i)];
    else list.push_back(seq[static_cast<std::size_t>(i)]);
  }
  return seq.is_string() ? Json(std::move(text)) : list;
}

class Renderer {
 public:
  Renderer(const Json& context, const RenderOptions& options) : options_(options) {
    if (!context.is_object()) throw Error("chat template: the context must be an object");
    scopes_.emplace_back();
    for (auto it = context.begin(); it != context.end(); ++it) scopes_.back()[it.key()] = {*it, false};
  }

  void run(const Body& body, std::string& out) {
    for (const auto& s : body) {
      count_step(out);
      switch (s->kind) {
        case Stmt::Kind::Text: out += s->text; break;
        case Stmt::Kind::Output: out += to_text(eval(*s->expr)); break;
        case Stmt::Kind::If:
          for (const auto& [cond, branch] : s->branches)
            if (!cond || truthy(eval(*cond))) {
              run(branch, out);
              break;
            }
          break;
        case Stmt::Kind::For: run_for(*s, out); break;
        case Stmt::Kind::Set: assign(*s, eval(*s->expr)); break;
        case Stmt::Kind::SetBlock: {
          std::string text;
          run(s->body, text);
          assign(*s, {Json(std::move(text)), false});
          break;
        }
      }
    }
  }

 private:
  // A template from a file must not hang or exhaust memory: chat templates take a few
  // thousand steps and write a few kilobytes.
  void count_step(const std::string& out) {
    if (++steps_ > kMaxSteps)
      throw Error("chat template: more than " + std::to_string(kMaxSteps) + " steps (a runaway loop?)");
    if (out.size() > kMaxOutput)
      throw Error("chat template: the text grew past " + std::to_string(kMaxOutput >> 20) + " MiB");
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto found = it->find(name); found != it->end()) return found->second;
    if (is_builtin_function(name)) return {Json(name), false, true};
    return Value::missing();
  }

  void assign(const Stmt& s, Value v) {
    const std::string& name = s.targets[0];
    if (s.attribute.empty()) {
      scopes_.back()[name] = std::move(v);
      return;
    }
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto found = it->find(name); found != it->end()) {
        if (!found->second.json.is_object())
          throw Error("chat template line " + std::to_string(s.line) + ": cannot set an attribute of " +
                      type_name(found->second));
        found->second.json[s.attribute] = std::move(v.json);
        return;
      }
    throw Error("chat template line " + std::to_string(s.line) + ": '" + name + "' is undefined");
  }

  void run_for(const Stmt& s, std::string& out) {
    const Value seq = eval(*s.expr);
    Json items = Json::array();
    if (seq.json.is_array()) {
      items = seq.json;
    } else if (seq.json.is_object()) {
      for (auto it = seq.json.begin(); it != seq.json.end(); ++it) items.push_back(it.key());
    } else if (seq.json.is_string()) {
      for (std::string& c : characters(seq.json.get<std::string>())) items.push_back(std::move(c));
    } else if (!seq.undefined && !seq.json.is_null()) {
      fail(*s.expr, std::string("cannot loop over ") + type_name(seq));
    }
    scopes_.emplace_back();
    auto bind = [&](const Json& item) {
      if (s.targets.size() == 1) {
        scopes_.back()[s.targets[0]] = {item, false};
        return;
      }
      if (!item.is_array() || item.size() != s.targets.size())
        fail(*s.expr, "cannot unpack " + std::string(item.type_name()) + " into " + std::to_string(s.targets.size()) +
                          " names");
      for (std::size_t k = 0; k < s.targets.size(); ++k) scopes_.back()[s.targets[k]] = {item[k], false};
    };
    if (s.filter) {  // `for x in xs if cond`: the loop counts only the items kept
      Json kept = Json::array();
      for (const Json& item : items) {
        bind(item);
        if (truthy(eval(*s.filter))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const std::size_t n = items.size();
    for (std::size_t i = 0; i < n; ++i) {
      count_step(out);
      scopes_.back().clear();
      bind(items[i]);
      Json loop = {{"index", i + 1}, {"index0", i},         {"revindex", n - i}, {"revindex0", n - i - 1},
                   {"first", i == 0}, {"last", i + 1 == n}, {"length", n}};
      if (i > 0) loop["previtem"] = items[i - 1];
      if (i + 1 < n) loop["nextitem"] = items[i + 1];
      scopes_.back()["loop"] = {std::move(loop), false};
      run(s.body, out);
    }
    scopes_.pop_back();
    if (n == 0) run(s.else_body, out);
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Literal: return {e.value, false};
      case Expr::Kind::Name: return lookup(e.name);
      case Expr::Kind::Member:
        if (const Json* p = path(*e.args[0])) return member({*p, false}, e.name);  // no copy of the whole
        return member(eval(*e.args[0]), e.name);
      case Expr::Kind::Index:
        if (const Json* p = path(*e.args[0])) return index(e, {*p, false}, eval(*e.args[1]));
        return index(e, eval(*e.args[0]), eval(*e.args[1]));
      case Expr::Kind::Slice: {
        const Value seq = eval(*e.args[0]);
        if (!seq.json.is_array() && !seq.json.is_string()) fail(e, std::string("cannot slice ") + type_name(seq));
        auto part = [&](int k) { return e.args[k] ? eval(*e.args[k]) : Value::missing(); };
        return {slice(e, seq.json, part(1), part(2), part(3)), false};
      }
      case Expr::Kind::Call: return call(e);
      case Expr::Kind::Filter: return filter(e);
      case Expr::Kind::Test: return {test(e) != e.negated, false};
      case Expr::Kind::Unary: {
        const Value v = eval(*e.args[0]);
        if (e.name == "not") return {!truthy(v), false};
        if (!v.json.is_number()) fail(e, "unary " + e.name + " of " + type_name(v));
        if (e.name == "+") return v;
        if (v.json.is_number_integer()) return {int_op(e, '-', 0, v.json.get<std::int64_t>()), false};
        return {-v.json.get<double>(), false};
      }
      case Expr::Kind::Binary: return binary(e);
      case Expr::Kind::Cond:
        if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value::missing();
      case Expr::Kind::List: {
        Json list = Json::array();
        for (const auto& a : e.args) list.push_back(eval(*a).json);
        return {std::move(list), false};
      }
      case Expr::Kind::Dict: {
        Json dict = Json::object();
        for (std::size_t k = 0; k + 1 < e.args.size(); k += 2)
          dict[need_string(*e.args[k], eval(*e.args[k]), "a dict key")] = eval(*e.args[k + 1]).json;
        return {std::move(dict), false};
      }
    }
    fail(e, "unknown expression");
  }

  // Where a variable, or an object member of one, is stored (nullptr when `e` is something
  // else or names nothing): `messages[0].content` then copies the content, not the messages.
  const Json* path(const Expr& e) {
    if (e.kind == Expr::Kind::Name) {
      for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
        if (auto found = it->find(e.name); found != it->end()) return found->second.undefined ? nullptr : &found->second.json;
      return nullptr;
    }
    if (e.kind == Expr::Kind::Member) {
      const Json* base = path(*e.args[0]);
      if (!base || !base->is_object()) return nullptr;
      auto it = base->find(e.name);
      return it == base->end() ? nullptr : &*it;
    }
    if (e.kind == Expr::Kind::Index && e.args[1]->kind == Expr::Kind::Literal) {
      const Json* base = path(*e.args[0]);
      const Json& key = e.args[1]->value;
      if (!base) return nullptr;
      if (base->is_object() && key.is_string()) {
        auto it = base->find(key.get<std::string>());
        return it == base->end() ? nullptr : &*it;
      }
      if (base->is_array() && key.is_number_integer()) {
        std::int64_t i = key.get<std::int64_t>();
        if (i < 0) i += static_cast<std::int64_t>(base->size());
        return i >= 0 && i < static_cast<std::int64_t>(base->size()) ? &(*base)[static_cast<std::size_t>(i)] : nullptr;
      }
    }
    return nullptr;
  }

  static Value member(const Value& obj, const std::string& name) {
    if (obj.json.is_object())
      if (auto it = obj.json.find(name); it != obj.json.end()) return {*it, false};
    return Value::missing();
  }

  static Value index(const Expr& e, const Value& obj, const Value& key) {
    if (obj.json.is_object()) {
      if (!key.json.is_string()) return Value::missing();
      return member(obj, key.json.get<std::string>());
    }
    if (obj.json.is_array() || obj.json.is_string()) {
      std::int64_t i = need_int(e, key, "an index");
      const std::vector<std::string> chars = obj.json.is_string() ? characters(obj.json.get<std::string>()) : std::vector<std::string>();
      const auto n = static_cast<std::int64_t>(obj.json.is_array() ? obj.json.size() : chars.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::missing();
      if (obj.json.is_array()) return {obj.json[static_cast<std::size_t>(i)], false};
      return {chars[static_cast<std::size_t>(i)], false};
    }
    if (obj.undefined) fail(e, "subscript of an undefined value");
    return Value::missing();
  }

  std::vector<Value> args_of(const Expr& e, std::size_t from) {
    std::vector<Value> out;
    for (std::size_t k = from; k < e.args.size(); ++k) out.push_back(eval(*e.args[k]));
    return out;
  }
  Value kwarg(const Expr& e, std::string_view name, std::vector<Value>& args, std::size_t position) {
    for (const auto& [key, value] : e.kwargs)
      if (key == name) return eval(*value);
    return position < args.size() ? args[position] : Value::missing();
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    std::vector<Value> args = args_of(e, 1);
    if (callee.kind == Expr::Kind::Member) return method(e, eval(*callee.args[0]), callee.name, args);
    if (callee.kind != Expr::Kind::Name) fail(e, "this value cannot be called");
    const std::string& f = callee.name;
    if (f == "raise_exception")
      throw Error("the chat template refuses this conversation: " +
                  (args.empty() ? std::string("(no reason given)") : to_text(args[0])));
    if (f == "range") {
      if (args.empty() || args.size() > 3) fail(e, "range() takes 1 to 3 arguments");
      std::int64_t start = 0, stop = need_int(e, args[0], "range"), step = 1;
      if (args.size() >= 2) start = stop, stop = need_int(e, args[1], "range");
      if (args.size() == 3) step = need_int(e, args[2], "range");
      if (step == 0) fail(e, "range() step of 0");
      // The count, in unsigned arithmetic (stop - start may not fit in 64 signed bits).
      const bool up = step > 0;
      const std::uint64_t span = up ? (stop > start ? static_cast<std::uint64_t>(stop) - static_cast<std::uint64_t>(start) : 0)
                                    : (start > stop ? static_cast<std::uint64_t>(start) - static_cast<std::uint64_t>(stop) : 0);
      const std::uint64_t stride = up ? static_cast<std::uint64_t>(step) : 0 - static_cast<std::uint64_t>(step);
      const std::uint64_t count = span == 0 ? 0 : (span - 1) / stride + 1;
      if (count > 1'000'000) fail(e, "range() of more than a million values");
      Json out = Json::array();
      for (std::uint64_t k = 0; k < count; ++k) out.push_back(start + static_cast<std::int64_t>(k) * step);
      return {std::move(out), false};
    }
    if (f == "namespace" || f == "dict") {
      Json out = Json::object();
      for (const Value& a : args)  // namespace({...}) copies a dict
        if (a.json.is_object()) out.update(a.json);
      for (const auto& [key, value] : e.kwargs) out[key] = eval(*value).json;
      return {std::move(out), false};
    }
    if (f == "strftime_now") {
      const std::string& format = need_string(e, args.empty() ? Value::missing() : args[0], "strftime_now");
      std::tm now{};
      if (options_.now) {
        now = options_.now();
      } else {
        const std::time_t t = std::time(nullptr);
        localtime_r(&t, &now);
      }
      char buf[256];
      const std::size_t n = std::strftime(buf, sizeof buf, format.c_str(), &now);
      return {std::string(buf, n), false};
    }
    fail(e, "unknown function '" + printable(f) + "'");
  }

  Value method(const Expr& e, const Value& obj, const std::string& name, std::vector<Value>& args) {
    auto arg = [&](std::size_t k) { return k < args.size() ? args[k] : Value::missing(); };
    if (obj.json.is_string()) {
      const std::string& s = obj.json.get_ref<const std::string&>();
      auto chars = [&](std::size_t k) {
        const Value c = arg(k);
        return c.undefined || c.json.is_null() ? std::string(kWhitespace) : need_string(e, c, name.c_str());
      };
      if (name == "strip") return {strip(s, chars(0), true, true), false};
      if (name == "lstrip") return {strip(s, chars(0), true, false), false};
      if (name == "rstrip") return {strip(s, chars(0), false, true), false};
      if (name == "upper" || name == "lower") return {change_case(s, name == "upper"), false};
      if (name == "capitalize") return {s.empty() ? s : change_case(s.substr(0, 1), true) + change_case(s.substr(1), false), false};
      if (name == "startswith" || name == "endswith") {
        const Value p = arg(0);
        std::vector<std::string> options;
        if (p.json.is_array()) {
          for (const Json& x : p.json) options.push_back(x.is_string() ? x.get<std::string>() : "");
        } else {
          options.push_back(need_string(e, p, name.c_str()));
        }
        for (const std::string& o : options)
          if (name == "startswith" ? s.starts_with(o) : s.ends_with(o)) return {true, false};
        return {false, false};
      }
      if (name == "split") {
        const Value sep_v = arg(0);
        std::int64_t max = arg(1).undefined ? -1 : need_int(e, arg(1), "split");
        Json out = Json::array();
        if (sep_v.undefined || sep_v.json.is_null()) {  // runs of whitespace
          std::size_t i = 0;
          while (i < s.size()) {
            while (i < s.size() && kWhitespace.find(s[i]) != std::string_view::npos) ++i;
            if (i >= s.size()) break;
            std::size_t j = i;
            if (max >= 0 && static_cast<std::int64_t>(out.size()) == max) j = s.size();
            while (j < s.size() && kWhitespace.find(s[j]) == std::string_view::npos) ++j;
            out.push_back(s.substr(i, j - i));
            i = j;
          }
          return {std::move(out), false};
        }
        const std::string& sep = need_string(e, sep_v, "split");
        if (sep.empty()) fail(e, "split() with an empty separator");
        std::size_t i = 0, j;
        while ((max < 0 || static_cast<std::int64_t>(out.size()) < max) && (j = s.find(sep, i)) != std::string::npos) {
          out.push_back(s.substr(i, j - i));
          i = j + sep.size();
        }
        out.push_back(s.substr(i));
        return {std::move(out), false};
      }
      if (name == "replace") {
        const std::string& from = need_string(e, arg(0), "replace");
        const std::string& to = need_string(e, arg(1), "replace");
        std::int64_t count = arg(2).undefined ? -1 : need_int(e, arg(2), "replace");
        if (from.empty()) return {s, false};
        std::string out;
        std::size_t i = 0, j;
        while (count-- != 0 && (j = s.find(from, i)) != std::string::npos) {
          out += s.substr(i, j - i) + to;
          i = j + from.size();
        }
        return {out + s.substr(i), false};
      }
      if (name == "join") {
        const Value list = arg(0);
        if (!list.json.is_array()) fail(e, "join() needs a list");
        std::string out;
        for (std::size_t k = 0; k < list.json.size(); ++k) out += (k ? s : "") + to_text({list.json[k], false});
        return {out, false};
      }
      if (name == "count") {
        const std::string& sub = need_string(e, arg(0), "count");
        std::int64_t n = 0;
        if (!sub.empty())
          for (std::size_t i = s.find(sub); i != std::string::npos; i = s.find(sub, i + sub.size())) ++n;
        return {n, false};
      }
      if (name == "find") {
        const std::size_t i = s.find(need_string(e, arg(0), "find"));
        return {i == std::string::npos ? std::int64_t{-1} : static_cast<std::int64_t>(i), false};
      }
    } else if (obj.json.is_object()) {
      if (name == "get") {
        const Value v = member(obj, need_string(e, arg(0), "get"));
        return v.undefined ? (args.size() > 1 ? args[1] : Value{Json(), false}) : v;
      }
      if (name == "items" || name == "keys" || name == "values") {
        Json out = Json::array();
        for (auto it = obj.json.begin(); it != obj.json.end(); ++it) {
          if (name == "items") out.push_back(Json::array({it.key(), *it}));
          else out.push_back(name == "keys" ? Json(it.key()) : *it);
        }
        return {std::move(out), false};
      }
    }
    fail(e, "no method '" + printable(name) + "' on " + type_name(obj));
  }

  Value filter(const Expr& e) {
    const Value v = eval(*e.args[0]);
    std::vector<Value> args = args_of(e, 1);
    const std::string& f = e.name;
    if (f == "safe") return v;
    if (f == "trim") {
      if (v.undefined) return {"", false};
      return {strip(need_string(e, v, "trim"), kWhitespace, true, true), false};
    }
    if (f == "length" || f == "count") return {length_of(e, v), false};
    if (f == "upper" || f == "lower") return {change_case(need_string(e, v, f.c_str()), f == "upper"), false};
    if (f == "capitalize") {
      const std::string& s = need_string(e, v, "capitalize");
      return {s.empty() ? s : change_case(s.substr(0, 1), true) + change_case(s.substr(1), false), false};
    }
    if (f == "string") return {to_text(v), false};
    if (f == "tojson") {
      const Value indent = kwarg(e, "indent", args, 0);
      std::string out;
      to_json(v.undefined ? Json() : v.json, indent.json.is_number() ? static_cast<int>(need_int(e, indent, "indent")) : 0,
              0, out);
      return {std::move(out), false};
    }
    if (f == "default" || f == "d") {
      const bool boolean = truthy(kwarg(e, "boolean", args, 1));
      if (v.undefined || (boolean && !truthy(v))) return args.empty() ? Value{"", false} : args[0];
      return v;
    }
    if (f == "first" || f == "last") {
      if (v.json.is_array()) {
        if (v.json.empty()) return Value::missing();
        return {f == "first" ? v.json.front() : v.json.back(), false};
      }
      const std::string& s = need_string(e, v, f.c_str());
      if (s.empty()) return Value::missing();
      return {f == "first" ? s.substr(0, 1) : s.substr(s.size() - 1), false};
    }
    if (f == "join") {
      if (!v.json.is_array()) fail(e, "join needs a list");
      const Value sep = kwarg(e, "d", args, 0);
      std::string out;
      for (std::size_t k = 0; k < v.json.size(); ++k)
        out += (k && !sep.undefined ? to_text(sep) : "") + to_text({v.json[k], false});
      return {std::move(out), false};
    }
    if (f == "list") {
      if (v.json.is_array()) return v;
      Json out = Json::array();
      if (v.json.is_object())
        for (auto it = v.json.begin(); it != v.json.end(); ++it) out.push_back(it.key());
      return {std::move(out), false};
    }
    if (f == "items") return method(e, v, "items", args);
    if (f == "reverse") {
      if (v.json.is_string()) {
        std::string s = v.json.get<std::string>();
        std::reverse(s.begin(), s.end());
        return {s, false};
      }
      if (!v.json.is_array()) fail(e, std::string("reverse of ") + type_name(v));
      Json out = Json::array();
      for (auto it = v.json.rbegin(); it != v.json.rend(); ++it) out.push_back(*it);
      return {std::move(out), false};
    }
    if (f == "replace") return method(e, v, "replace", args);
    if (f == "int") {
      if (v.json.is_number()) return {need_int(e, v, "int"), false};
      if (v.json.is_string()) return {static_cast<std::int64_t>(std::strtoll(v.json.get<std::string>().c_str(), nullptr, 10)), false};
      return {std::int64_t{0}, false};
    }
    if (f == "float") {
      if (v.json.is_number()) return {v.json.get<double>(), false};
      if (v.json.is_string()) return {std::strtod(v.json.get<std::string>().c_str(), nullptr), false};
      return {0.0, false};
    }
    if (f == "abs") {
      if (v.json.is_number_integer()) {
        const std::int64_t x = v.json.get<std::int64_t>();
        return {x < 0 ? int_op(e, '-', 0, x) : x, false};
      }
      if (v.json.is_number()) return {std::fabs(v.json.get<double>()), false};
      fail(e, std::string("abs of ") + type_name(v));
    }
    if (f == "selectattr" || f == "rejectattr") {
      if (!v.json.is_array()) fail(e, f + " needs a list");
      const std::string& attribute = need_string(e, args.empty() ? Value::missing() : args[0], f.c_str());
      Json out = Json::array();
      for (const Json& item : v.json) {
        const Value field = member({item, false}, attribute);
        bool pass = truthy(field);
        if (args.size() >= 2) pass = run_test(e, need_string(e, args[1], f.c_str()), field, {args.begin() + 2, args.end()});
        if (pass == (f == "selectattr")) out.push_back(item);
      }
      return {std::move(out), false};
    }
    if (f == "map") {
      if (!v.json.is_array()) fail(e, "map needs a list");
      const Value attribute = kwarg(e, "attribute", args, 99);
      if (attribute.undefined) fail(e, "map is supported with attribute= only");
      Json out = Json::array();
      for (const Json& item : v.json) out.push_back(member({item, false}, need_string(e, attribute, "map")).json);
      return {std::move(out), false};
    }
    fail(e, "unknown filter '" + printable(f) + "'");
  }

  bool test(const Expr& e) {
    const Value v = eval(*e.args[0]);
    return run_test(e, e.name, v, args_of(e, 1));
  }

  bool run_test(const Expr& e, const std::string& name, const Value& v, const std::vector<Value>& args) {
    const Json& j = v.json;
    if (name == "defined") return !v.undefined;
    if (name == "undefined") return v.undefined;
    if (v.undefined && name != "none") return false;
    if (name == "none") return !v.undefined && j.is_null();
    if (name == "string") return j.is_string();
    if (name == "number") return j.is_number();
    if (name == "integer") return j.is_number_integer();
    if (name == "float") return j.is_number_float();
    if (name == "boolean") return j.is_boolean();
    if (name == "true" || name == "false") return j.is_boolean() && j.get<bool>() == (name == "true");
    if (name == "mapping") return j.is_object();
    if (name == "sequence" || name == "iterable") return j.is_array() || j.is_string() || j.is_object();
    if (name == "callable") return v.function;
    if (name == "odd" || name == "even") return j.is_number_integer() && (j.get<std::int64_t>() % 2 != 0) == (name == "odd");
    if (args.empty()) fail(e, "unknown test '" + printable(name) + "'");
    if (name == "equalto" || name == "eq" || name == "sameas") return equal(v, args[0]);
    if (name == "ne") return !equal(v, args[0]);
    if (name == "in") return contains(e, args[0], v);
    if (name == "divisibleby") {
      const std::int64_t d = need_int(e, args[0], "divisibleby");
      return d != 0 && need_int(e, v, "divisibleby") % d == 0;
    }
    fail(e, "unknown test '" + printable(name) + "'");
  }

  static bool equal(const Value& a, const Value& b) {
    if (a.undefined || b.undefined) return a.undefined == b.undefined;
    if (a.json.is_number() && b.json.is_number()) return a.json.get<double>() == b.json.get<double>();
    return a.json == b.json;
  }

  static bool contains(const Expr& e, const Value& haystack, const Value& needle) {
    const Json& h = haystack.json;
    if (h.is_string()) return h.get_ref<const std::string&>().find(need_string(e, needle, "'in' on a string")) != std::string::npos;
    if (h.is_array()) return std::any_of(h.begin(), h.end(), [&](const Json& x) { return equal({x, false}, needle); });
    if (h.is_object()) return needle.json.is_string() && h.contains(needle.json.get<std::string>());
    if (haystack.undefined || h.is_null()) return false;
    fail(e, std::string("'in' on ") + type_name(haystack));
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = eval(*e.args[0]);
      return truthy(a) ? eval(*e.args[1]) : a;
    }
    if (op == "or") {
      Value a = eval(*e.args[0]);
      return truthy(a) ? a : eval(*e.args[1]);
    }
    const Value a = eval(*e.args[0]), b = eval(*e.args[1]);
    if (op == "==") return {equal(a, b), false};
    if (op == "!=") return {!equal(a, b), false};
    if (op == "in") return {contains(e, b, a), false};
    if (op == "not in") return {!contains(e, b, a), false};
    if (op == "~") return {to_text(a) + to_text(b), false};
    const Json &x = a.json, &y = b.json;
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int cmp;
      if (x.is_number() && y.is_number()) {
        const double p = x.get<double>(), q = y.get<double>();
        cmp = p < q ? -1 : p > q ? 1 : 0;
      } else if (x.is_string() && y.is_string()) {
        cmp = x.get_ref<const std::string&>().compare(y.get_ref<const std::string&>());
      } else {
        fail(e, "cannot compare " + std::string(type_name(a)) + " with " + type_name(b));
      }
      return {op == "<" ? cmp < 0 : op == "<=" ? cmp <= 0 : op == ">" ? cmp > 0 : cmp >= 0, false};
    }
    if (op == "+") {
      if (x.is_string() && y.is_string()) return {x.get<std::string>() + y.get<std::string>(), false};
      if (x.is_array() && y.is_array()) {
        Json out = x;
        out.insert(out.end(), y.begin(), y.end());
        return {std::move(out), false};
      }
    }
    if (!x.is_number() || !y.is_number())
      fail(e, "cannot apply '" + op + "' to " + type_name(a) + " and " + type_name(b));
    const bool ints = x.is_number_integer() && y.is_number_integer();
    if (ints && op == "**" && y.get<std::int64_t>() >= 0 && y.get<std::int64_t>() < 64) {
      std::int64_t r = 1;
      for (std::int64_t k = 0; k < y.get<std::int64_t>(); ++k) r = int_op(e, '*', r, x.get<std::int64_t>());
      return {r, false};
    }
    if (ints && op != "/" && op != "**") {
      const std::int64_t p = x.get<std::int64_t>(), q = y.get<std::int64_t>();
      if (op == "+" || op == "-" || op == "*") return {int_op(e, op[0], p, q), false};
      if (q == 0) fail(e, "division by zero");
      if (q == -1 && p == std::numeric_limits<std::int64_t>::min()) fail(e, "integer overflow");
      const std::int64_t r = p % q, d = p / q;
      const bool adjust = r != 0 && ((r < 0) != (q < 0));  // Python rounds toward minus infinity
      if (op == "//") return {adjust ? d - 1 : d, false};
      if (op == "%") return {adjust ? r + q : r, false};
    }
    const double p = x.get<double>(), q = y.get<double>();
    if (op == "+") return {p + q, false};
    if (op == "-") return {p - q, false};
    if (op == "*") return {p * q, false};
    if (op == "**") return {std::pow(p, q), false};
    if (q == 0) fail(e, "division by zero");
    if (op == "/") return {p / q, false};
    if (op == "//") return {std::floor(p / q), false};
    if (op == "%") return {p - q * std::floor(p / q), false};
    fail(e, "unknown operator '" + op + "'");
  }

  static constexpr std::int64_t kMaxSteps = 1'000'000;
  static constexpr std::size_t kMaxOutput = std::size_t{64} << 20;
  const RenderOptions& options_;
  std::vector<std::map<std::string, Value>> scopes_;
  std::int64_t steps_ = 0;
};

}  // namespace

std::string Template::render(const Json& context, const RenderOptions& options) const {
  std::string out;
  Renderer(context, options).run(program_->body, out);
  return out;
}

}  // namespace llama2::jinja
