// A JSON Schema subset compiled into an incremental acceptor over bytes: given the text so
// far, which next bytes keep it a prefix of a JSON value that validates against the schema,
// and whether it is a whole value. The token mask (sampling/constraint.hpp) walks it.
//
// The language generated is narrower than what the schema accepts, so that every path can be
// completed and the model cannot stall: properties in declared order (only declared ones when
// the schema lists any), no whitespace except one optional space after ':' and ',', numbers of
// at most 15 integer digits, 15 fraction digits and 2 exponent digits, nesting of at most
// kMaxDepth frames. Every live state has a completion (the tests check it by random walks).
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace llama2::json_schema {

// A schema this engine cannot enforce (pattern, format, minimum, ...): the message names the
// keyword and where it is.
class SchemaError : public Error {
 public:
  using Error::Error;
};

using NodeId = std::uint32_t;

enum class NodeKind : std::uint8_t {
  Object,      // declared properties, in order
  FreeObject,  // any keys, every value of one node
  Array,
  String,      // any string
  Number,
  Integer,
  Literals,    // one of a set of exact byte strings (enum, const, true/false/null, raw text)
  AnyOf,
  Sequence,    // children one after another (e.g. "<tool_call>" value "</tool_call>")
};

struct Property {
  std::string key_literal;  // the key as JSON text, quotes included
  NodeId value = 0;
  bool required = false;
};

struct Node {
  NodeKind kind = NodeKind::AnyOf;
  std::vector<Property> properties;  // Object
  NodeId child = 0;                  // Array items, FreeObject values
  std::uint32_t min_items = 0, max_items = UINT32_MAX;
  std::vector<std::string> literals;  // Literals
  std::vector<NodeId> children;       // AnyOf, Sequence; FreeObject: {key string node}
  std::uint32_t min_depth = UINT32_MAX;  // frames needed to complete a value, filled by finish()
};

inline constexpr int kMaxDepth = 32;

// The compiled language. Build one with compile_schema / any_object, or by hand with add().
class Grammar {
 public:
  NodeId add(Node node);
  NodeId any_value();     // any JSON value (an AnyOf over the free kinds), shared
  NodeId string_value();  // any string, shared
  const Node& node(NodeId id) const { return nodes_[id]; }
  Node& node(NodeId id) { return nodes_[id]; }
  std::size_t size() const { return nodes_.size(); }
  NodeId root = 0;
  // Computes min_depth and wraps the root; throws SchemaError when the root has no finite
  // value. Call once, after the last add().
  void finish();
  NodeId start() const { return start_; }  // a Sequence of {root}, the acceptor's first frame

 private:
  std::vector<Node> nodes_;
  NodeId any_ = UINT32_MAX;
  NodeId string_ = UINT32_MAX;
  NodeId start_ = 0;
};

// json_object mode: any JSON object.
Grammar any_object();
// A JSON value valid against `schema` (draft 2020-12 subset; see docs/server.md). Throws
// SchemaError for what it cannot enforce.
Grammar compile_schema(const nlohmann::ordered_json& schema);
// Compiles `schema` into `g` (sharing its nodes) and returns the node, for grammars built of
// several schemas (tool calls).
NodeId compile_into(Grammar& g, const nlohmann::ordered_json& schema);
NodeId add_literal(Grammar& g, std::string text);

// One frame of the acceptor's stack: which node, where in it.
struct Frame {
  bool operator==(const Frame&) const = default;
  NodeId node = 0;
  std::uint8_t phase = 0;
  std::uint8_t flags = 0;
  std::uint16_t aux = 0;   // digits, \u code unit, UTF-8 bounds
  std::uint32_t index = 0; // property, item count, literal candidate, sequence position
  std::uint32_t pos = 0;   // bytes matched of a literal or key
};

struct Stack {
  std::array<Frame, kMaxDepth> frames;
  int depth = 0;
  bool operator==(const Stack& o) const;
};

// The acceptor's state: the stacks still alive (more than one only under anyOf).
class Acceptor {
 public:
  explicit Acceptor(const Grammar& grammar);
  // Feeds one byte; false (state unchanged) when it would leave the language.
  bool feed(std::uint8_t byte);
  bool feed(std::string_view bytes);  // all or nothing
  // True when the text so far is a whole value.
  bool complete() const;
  // True when some byte may follow (false: the value is closed, only the end may follow).
  bool can_continue() const;
  bool dead() const { return stacks_.empty(); }

  // For the token trie: step `from` by a byte into `to` (cleared first); false if dead.
  bool step(const std::vector<Stack>& from, std::uint8_t byte, std::vector<Stack>& to) const;
  bool complete(const std::vector<Stack>& stacks) const;
  const std::vector<Stack>& stacks() const { return stacks_; }
  void set_stacks(std::vector<Stack> s) { stacks_ = std::move(s); }
  const Grammar& grammar() const { return *grammar_; }

 private:
  void feed_stack(Stack s, std::uint8_t byte, std::vector<Stack>& out) const;
  // Pushes `node` on `s` and feeds it `byte` (forking for AnyOf).
  void push_and_feed(Stack s, NodeId node, std::uint8_t byte, std::vector<Stack>& out) const;

  const Grammar* grammar_;
  std::vector<Stack> stacks_;
  mutable std::vector<Stack> scratch_;
};

}  // namespace llama2::json_schema
