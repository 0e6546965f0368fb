// JSON Schema → Grammar. Every keyword is either enforced, an annotation (ignored, as the
// specification allows), or refused with a message naming it: a schema the output might not
// satisfy is an error, never a silent approximation.
#include "sampling/json_schema.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace llama2::json_schema {

using nlohmann::ordered_json;

namespace {
// A node of `kind`, with `fill` setting its other fields.
Node make_node(NodeKind kind, const std::function<void(Node&)>& fill = {}) {
  Node n;
  n.kind = kind;
  if (fill) fill(n);
  return n;
}
}  // namespace

NodeId Grammar::add(Node node) {
  nodes_.push_back(std::move(node));
  return static_cast<NodeId>(nodes_.size() - 1);
}

NodeId Grammar::string_value() {
  if (string_ == UINT32_MAX) string_ = add(make_node(NodeKind::String));
  return string_;
}

NodeId Grammar::any_value() {
  if (any_ != UINT32_MAX) return any_;
  any_ = add(make_node(NodeKind::AnyOf));
  const NodeId object = add(make_node(NodeKind::FreeObject, [&](Node& n) { n.child = any_; n.children = {string_value()}; }));
  const NodeId array = add(make_node(NodeKind::Array, [&](Node& n) { n.child = any_; }));
  const NodeId number = add(make_node(NodeKind::Number));
  const NodeId words = add(make_node(NodeKind::Literals, [&](Node& n) { n.literals = {"true", "false", "null"}; }));
  nodes_[any_].children = {object, array, string_value(), number, words};
  return any_;
}

void Grammar::finish() {
  start_ = add(make_node(NodeKind::Sequence, [&](Node& n) { n.children = {root}; }));
  constexpr std::uint32_t kInf = UINT32_MAX;
  auto plus = [](std::uint32_t a, std::uint32_t b) { return a == kInf || b == kInf ? kInf : a + b; };
  // A fixed point: recursion through $ref settles once every node's least depth is known.
  for (bool changed = true; changed;) {
    changed = false;
    for (Node& n : nodes_) {
      std::uint32_t d = 1;
      switch (n.kind) {
        case NodeKind::Object:
          for (const Property& p : n.properties)
            if (p.required) d = std::max(d, plus(1, nodes_[p.value].min_depth));
          break;
        case NodeKind::Array:
          if (n.min_items > 0) d = plus(1, nodes_[n.child].min_depth);
          break;
        case NodeKind::AnyOf:
          d = kInf;
          for (NodeId c : n.children) d = std::min(d, nodes_[c].min_depth);
          break;
        case NodeKind::Sequence:
          for (NodeId c : n.children) d = std::max(d, plus(1, nodes_[c].min_depth));
          break;
        default: break;
      }
      if (d < n.min_depth) {
        n.min_depth = d;
        changed = true;
      }
    }
  }
  if (nodes_[start_].min_depth > static_cast<std::uint32_t>(kMaxDepth))
    throw SchemaError("the schema has no value within " + std::to_string(kMaxDepth - 1) +
                      " levels of nesting (unsatisfiable or too deep)");
}

NodeId add_literal(Grammar& g, std::string text) {
  return g.add(make_node(NodeKind::Literals, [&](Node& n) { n.literals = {std::move(text)}; }));
}

Grammar any_object() {
  Grammar g;
  g.root = g.add(make_node(NodeKind::FreeObject, [&](Node& n) { n.child = g.any_value(); n.children = {g.string_value()}; }));
  g.finish();
  return g;
}

namespace {

constexpr std::size_t kMaxNodes = 4096;
constexpr std::size_t kMaxProperties = 1000;
constexpr std::uint64_t kMaxMinItems = 1000;

const std::set<std::string, std::less<>> kAnnotations = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions", "$anchor"};
const std::set<std::string, std::less<>> kEnforced = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "uniqueItems"};

// JSON types a value of a node can have, as bits: to check that oneOf's alternatives never
// match the same value (then oneOf means anyOf).
enum : unsigned { kObjectBit = 1, kArrayBit = 2, kStringBit = 4, kNumberBit = 8, kBoolBit = 16, kNullBit = 32 };

unsigned literal_types(std::string_view text) {
  switch (text.empty() ? '\0' : text[0]) {
    case '{': return kObjectBit;
    case '[': return kArrayBit;
    case '"': return kStringBit;
    case 't':
    case 'f': return kBoolBit;
    case 'n': return kNullBit;
    default: return kNumberBit;
  }
}

class Compiler {
 public:
  Compiler(Grammar& g, const ordered_json& document) : g_(g), document_(document) {}

  NodeId compile(const ordered_json& s, const std::string& where) {
    if (g_.size() > kMaxNodes) throw SchemaError("the schema is too large (more than " + std::to_string(kMaxNodes) + " nodes)");
    if (s.is_boolean()) {
      if (!s.get<bool>()) throw SchemaError(where + ": the schema false matches nothing");
      return g_.any_value();
    }
    if (!s.is_object()) throw SchemaError(where + ": expected a schema (an object or a boolean)");
    for (const auto& [key, value] : s.items()) {
      if (kAnnotations.contains(key)) continue;
      if (!kEnforced.contains(key))
        throw SchemaError(where + ": the keyword '" + key + "' is not supported (it cannot be enforced while generating)");
      if (key == "uniqueItems" && !(value.is_boolean() && !value.get<bool>()))
        throw SchemaError(where + ": the keyword 'uniqueItems' is not supported (it cannot be enforced while generating)");
    }
    auto others = [&](std::initializer_list<const char*> allowed) {
      for (const auto& item : s.items()) {
        const std::string& key = item.key();  // (clang 14 cannot capture a structured binding)
        if (!kAnnotations.contains(key) && std::find_if(allowed.begin(), allowed.end(), [&](const char* a) {
              return key == a;
            }) == allowed.end())
          return key;
      }
      return std::string();
    };
    if (s.contains("$ref")) {
      if (const std::string other = others({"$ref"}); !other.empty())
        throw SchemaError(where + ": '$ref' beside '" + other + "' is not supported");
      return reference(s["$ref"], where);
    }
    for (const char* combinator : {"anyOf", "oneOf", "allOf"}) {
      if (!s.contains(combinator)) continue;
      if (const std::string other = others({combinator}); !other.empty())
        throw SchemaError(where + ": '" + combinator + "' beside '" + other + "' is not supported");
      return combination(s[combinator], combinator, where);
    }
    if (s.contains("enum") || s.contains("const")) return literals(s, where);
    std::vector<std::string> types;
    if (const auto t = s.find("type"); t != s.end()) {
      if (t->is_string()) {
        types.push_back(t->get<std::string>());
      } else if (t->is_array() && !t->empty() && std::all_of(t->begin(), t->end(), [](const auto& x) { return x.is_string(); })) {
        for (const auto& x : *t) types.push_back(x.get<std::string>());
      } else {
        throw SchemaError(where + ".type: expected a type name or an array of them");
      }
    } else if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types.push_back("array");
    } else {
      return g_.any_value();
    }
    if (types.size() == 1) return typed(s, types[0], where);
    Node any = make_node(NodeKind::AnyOf);
    for (const std::string& t : types) any.children.push_back(typed(s, t, where));
    return g_.add(std::move(any));
  }

 private:
  NodeId reference(const ordered_json& ref, const std::string& where) {
    if (!ref.is_string()) throw SchemaError(where + ".$ref: expected a string");
    const std::string target = ref.get<std::string>();
    if (const auto it = refs_.find(target); it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#')
      throw SchemaError(where + ".$ref: only references inside the schema ('#/$defs/...') are supported, not '" + target + "'");
    const ordered_json* resolved = nullptr;
    try {
      resolved = &document_.at(ordered_json::json_pointer(target.substr(1)));
    } catch (const std::exception&) {
      throw SchemaError(where + ".$ref: '" + target + "' does not resolve inside the schema");
    }
    // A placeholder first, so that a recursive reference finds itself: an AnyOf of one.
    const NodeId alias = g_.add(make_node(NodeKind::AnyOf));
    refs_[target] = alias;
    const NodeId body = compile(*resolved, target);
    g_.node(alias).children = {body};
    return alias;
  }

  NodeId combination(const ordered_json& list, const std::string& name, const std::string& where) {
    if (!list.is_array() || list.empty()) throw SchemaError(where + "." + name + ": expected a non-empty array of schemas");
    if (name == "allOf") {
      if (list.size() != 1) throw SchemaError(where + ".allOf: more than one schema is not supported");
      return compile(list[0], where + ".allOf[0]");
    }
    Node any = make_node(NodeKind::AnyOf);
    for (std::size_t i = 0; i < list.size(); ++i)
      any.children.push_back(compile(list[i], where + "." + name + "[" + std::to_string(i) + "]"));
    if (name == "oneOf") {
      // A value must match exactly one alternative; enforced only when no two can match the
      // same value, i.e. their JSON types differ.
      unsigned seen = 0;
      for (NodeId c : any.children) {
        const unsigned t = types_of(c, 0);
        if (t & seen)
          throw SchemaError(where + ".oneOf: alternatives of the same JSON type are not supported (use anyOf)");
        seen |= t;
      }
    }
    return g_.add(std::move(any));
  }

  unsigned types_of(NodeId id, int depth) const {
    const Node& n = g_.node(id);
    if (depth > 64) return ~0u;
    switch (n.kind) {
      case NodeKind::Object:
      case NodeKind::FreeObject: return kObjectBit;
      case NodeKind::Array: return kArrayBit;
      case NodeKind::String: return kStringBit;
      case NodeKind::Number:
      case NodeKind::Integer: return kNumberBit;
      case NodeKind::Literals: {
        unsigned t = 0;
        for (const std::string& l : n.literals) t |= literal_types(l);
        return t;
      }
      case NodeKind::AnyOf: {
        unsigned t = 0;
        for (NodeId c : n.children) t |= types_of(c, depth + 1);
        return t;
      }
      case NodeKind::Sequence: return ~0u;
    }
    return ~0u;
  }

  static bool has_type(const ordered_json& v, std::string_view type) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    if (type == "number") return v.is_number();
    if (type == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<std::int64_t>(v.get<double>())));
    return false;
  }

  NodeId literals(const ordered_json& s, const std::string& where) {
    std::vector<ordered_json> values;
    if (s.contains("const")) values.push_back(s["const"]);
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) throw SchemaError(where + ".enum: expected a non-empty array");
      if (s.contains("const")) throw SchemaError(where + ": 'enum' beside 'const' is not supported");
      for (const auto& v : s["enum"]) values.push_back(v);
    }
    for (const auto& [key, value] : s.items())
      if (key != "enum" && key != "const" && key != "type" && !kAnnotations.contains(key))
        throw SchemaError(where + ": '" + key + "' beside 'enum'/'const' is not supported");
    Node n = make_node(NodeKind::Literals);
    for (const ordered_json& v : values) {
      if (s.contains("type")) {
        const auto& t = s["type"];
        const bool ok = t.is_string() ? has_type(v, t.get<std::string>())
                        : t.is_array() && std::any_of(t.begin(), t.end(), [&](const auto& x) {
                            return x.is_string() && has_type(v, x.template get<std::string>());
                          });
        if (!ok) continue;  // an enum value of another type is not valid
      }
      std::string text = v.dump(-1, ' ', false, ordered_json::error_handler_t::strict);
      if (std::find(n.literals.begin(), n.literals.end(), text) == n.literals.end()) n.literals.push_back(std::move(text));
    }
    if (n.literals.empty()) throw SchemaError(where + ": no 'enum'/'const' value has the schema's type");
    return g_.add(std::move(n));
  }

  NodeId typed(const ordered_json& s, const std::string& type, const std::string& where) {
    if (type == "object") return object(s, where);
    if (type == "array") return array(s, where);
    if (type == "string") return g_.string_value();
    if (type == "number") return g_.add(make_node(NodeKind::Number));
    if (type == "integer") return g_.add(make_node(NodeKind::Integer));
    if (type == "boolean") return g_.add(make_node(NodeKind::Literals, [&](Node& n) { n.literals = {"true", "false"}; }));
    if (type == "null") return add_literal(g_, "null");
    throw SchemaError(where + ".type: unknown type '" + type + "'");
  }

  NodeId object(const ordered_json& s, const std::string& where) {
    std::set<std::string> required;
    if (const auto r = s.find("required"); r != s.end()) {
      if (!r->is_array()) throw SchemaError(where + ".required: expected an array of property names");
      for (const auto& name : *r) {
        if (!name.is_string()) throw SchemaError(where + ".required: expected an array of property names");
        required.insert(name.get<std::string>());
      }
    }
    const ordered_json* properties = nullptr;
    if (const auto p = s.find("properties"); p != s.end()) {
      if (!p->is_object()) throw SchemaError(where + ".properties: expected an object of schemas");
      if (p->size() > kMaxProperties) throw SchemaError(where + ".properties: too many properties");
      properties = &*p;
    }
    const auto extra = s.find("additionalProperties");
    if (extra != s.end() && !extra->is_boolean() && !extra->is_object())
      throw SchemaError(where + ".additionalProperties: expected a boolean or a schema");
    const bool closed = extra != s.end() && extra->is_boolean() && !extra->get<bool>();
    for (const std::string& name : required)
      if (!properties || !properties->contains(name))
        throw SchemaError(where + ".required: '" + name + "' is not declared in 'properties' (not supported)");
    if (!properties || properties->empty()) {
      if (closed) return add_literal(g_, "{}");
      const NodeId value = extra != s.end() && extra->is_object() ? compile(*extra, where + ".additionalProperties")
                                                                 : g_.any_value();
      return g_.add(make_node(NodeKind::FreeObject, [&](Node& n) { n.child = value; n.children = {g_.string_value()}; }));
    }
    // Only the declared properties are generated, in their declared order: valid whatever
    // additionalProperties says.
    Node n = make_node(NodeKind::Object);
    for (const auto& [name, schema] : properties->items()) {
      Property p;
      p.key_literal = ordered_json(name).dump(-1, ' ', false, ordered_json::error_handler_t::strict);
      p.required = required.contains(name);
      p.value = compile(schema, where + ".properties." + name);
      n.properties.push_back(std::move(p));
    }
    return g_.add(std::move(n));
  }

  NodeId array(const ordered_json& s, const std::string& where) {
    Node n = make_node(NodeKind::Array);
    auto count = [&](const char* key, std::uint32_t fallback) {
      const auto it = s.find(key);
      if (it == s.end()) return fallback;
      if (!it->is_number_unsigned()) throw SchemaError(where + "." + key + ": expected a non-negative integer");
      return static_cast<std::uint32_t>(std::min<std::uint64_t>(it->get<std::uint64_t>(), UINT32_MAX));
    };
    n.min_items = count("minItems", 0);
    n.max_items = count("maxItems", UINT32_MAX);
    if (n.min_items > kMaxMinItems) throw SchemaError(where + ".minItems: more than " + std::to_string(kMaxMinItems) + " is not supported");
    if (n.min_items > n.max_items) throw SchemaError(where + ": minItems is larger than maxItems");
    const auto items = s.find("items");
    if (items != s.end() && items->is_array())
      throw SchemaError(where + ".items: an array of schemas (tuple validation) is not supported");
    n.child = items == s.end() ? g_.any_value() : compile(*items, where + ".items");
    return g_.add(std::move(n));
  }

  Grammar& g_;
  const ordered_json& document_;
  std::map<std::string, NodeId> refs_;
};

}  // namespace

NodeId compile_into(Grammar& g, const ordered_json& schema) {
  Compiler compiler(g, schema);
  return compiler.compile(schema, "schema");
}

Grammar compile_schema(const ordered_json& schema) {
  Grammar g;
  g.root = compile_into(g, schema);
  g.finish();
  return g;
}

}  // namespace llama2::json_schema
