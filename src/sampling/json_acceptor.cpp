// The byte acceptor of json_schema.hpp: a pushdown automaton whose stack holds one Frame per
// open JSON value. Each frame's handler looks at one byte and either consumes it, finishes,
// hands it back to its parent (a number ends at the first byte that is not part of it), or
// opens a child value. anyOf forks the stack, one copy per alternative.
#include <algorithm>

#include "sampling/json_schema.hpp"

namespace llama2::json_schema {

bool Stack::operator==(const Stack& o) const {
  return depth == o.depth && std::equal(frames.begin(), frames.begin() + depth, o.frames.begin());
}

namespace {

enum class Step { Consume, Done, Reject, Pop, Push };

// Phases of each kind (Frame::phase).
enum : std::uint8_t { kStart = 0, kAfterOpen, kKey, kColon, kAfterColon, kAfterValue, kAfterComma };
enum : std::uint8_t { kStrBody = 1, kStrEscape, kStrHex, kStrUtf8, kStrLowBackslash, kStrLowU };
enum : std::uint8_t { kNumMinus = 1, kNumZero, kNumInt, kNumFracStart, kNumFrac, kNumExpStart, kNumExpSign, kNumExp };
constexpr std::uint8_t kSpaceUsed = 1;  // the one space of this gap is spent
constexpr std::uint8_t kNeedLow = 2;    // a \u high surrogate waits for its low half
constexpr int kMaxIntDigits = 15, kMaxFracDigits = 15, kMaxExpDigits = 2;  // 15 digits e99 stays a finite double

bool is_digit(std::uint8_t b) { return b >= '0' && b <= '9'; }
int hex_value(std::uint8_t b) {
  if (is_digit(b)) return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

bool fits(const Grammar& g, int depth, NodeId node) {
  return static_cast<std::uint64_t>(depth) + g.node(node).min_depth <= kMaxDepth;
}

// Among candidates [lo, hi] that share their first `pos` bytes with candidate lo, the first
// whose byte at `pos` is `b` and that `usable` accepts; -1 if none.
template <class Text, class Usable>
std::int64_t advance_literal(std::uint32_t lo, std::uint32_t hi, std::uint32_t pos, std::uint8_t b, Text text,
                             Usable usable) {
  const std::string_view first = text(lo);
  for (std::uint32_t k = lo; k <= hi; ++k) {
    const std::string_view t = text(k);
    if (t.size() <= pos || t.compare(0, pos, first, 0, pos) != 0) continue;
    if (static_cast<std::uint8_t>(t[pos]) == b && usable(k)) return k;
  }
  return -1;
}

// Some candidate in [lo, hi] sharing lo's first `pos` bytes is exactly `pos` long.
template <class Text>
bool literal_ends(std::uint32_t lo, std::uint32_t hi, std::uint32_t pos, Text text) {
  const std::string_view first = text(lo);
  for (std::uint32_t k = lo; k <= hi; ++k) {
    const std::string_view t = text(k);
    if (t.size() == pos && t.compare(0, pos, first, 0, pos) == 0) return true;
  }
  return false;
}
template <class Text>
bool literal_continues(std::uint32_t lo, std::uint32_t hi, std::uint32_t pos, Text text) {
  const std::string_view first = text(lo);
  for (std::uint32_t k = lo; k <= hi; ++k) {
    const std::string_view t = text(k);
    if (t.size() > pos && t.compare(0, pos, first, 0, pos) == 0) return true;
  }
  return false;
}

// Declared properties: a key at position >= `from` may be any up to the first required one.
std::int64_t key_window_end(const Node& n, std::uint32_t from) {
  for (std::uint32_t k = from; k < n.properties.size(); ++k)
    if (n.properties[k].required) return k;
  return static_cast<std::int64_t>(n.properties.size()) - 1;
}
// The object may close once no required property is left at or after `from`.
bool may_close(const Node& n, std::uint32_t from) {
  for (std::uint32_t k = from; k < n.properties.size(); ++k)
    if (n.properties[k].required) return false;
  return true;
}

struct Handler {
  const Grammar& g;
  int depth;         // frames on the stack, this one included
  NodeId child = 0;  // for Step::Push

  Step push(NodeId node) {
    child = node;
    return Step::Push;
  }
  bool space(Frame& f, std::uint8_t b) {
    if (b != ' ' || (f.flags & kSpaceUsed)) return false;
    f.flags |= kSpaceUsed;
    return true;
  }
  // A key of a declared object may start at position `from` when one of its candidates fits.
  bool key_possible(const Node& n, std::uint32_t from) {
    const std::int64_t hi = key_window_end(n, from);
    for (std::int64_t k = from; k <= hi; ++k)
      if (fits(g, depth, n.properties[k].value)) return true;
    return false;
  }

  Step object(Frame& f, const Node& n, std::uint8_t b) {
    auto key = [&](std::uint32_t k) { return std::string_view(n.properties[k].key_literal); };
    auto usable = [&](std::uint32_t k) { return fits(g, depth, n.properties[k].value); };
    switch (f.phase) {
      case kStart:
        if (b != '{') return Step::Reject;
        f.phase = kAfterOpen;
        return Step::Consume;
      case kAfterComma:
        if (space(f, b)) return Step::Consume;
        [[fallthrough]];
      case kAfterOpen: {
        if (b == '}' && f.phase == kAfterOpen && may_close(n, f.index)) return Step::Done;
        if (b != '"' || f.index >= n.properties.size()) return Step::Reject;
        const std::int64_t hi = key_window_end(n, f.index);
        const std::int64_t k = advance_literal(f.index, static_cast<std::uint32_t>(hi), 0, b, key, usable);
        if (k < 0) return Step::Reject;
        f.aux = static_cast<std::uint16_t>(f.index);  // the window's start
        f.index = static_cast<std::uint32_t>(k);
        f.pos = 1;
        f.phase = kKey;
        return Step::Consume;
      }
      case kKey: {
        const std::int64_t hi = key_window_end(n, f.aux);
        const std::int64_t k = advance_literal(f.index, static_cast<std::uint32_t>(hi), f.pos, b, key, usable);
        if (k < 0) return Step::Reject;
        f.index = static_cast<std::uint32_t>(k);
        if (++f.pos == key(f.index).size()) f.phase = kColon;
        return Step::Consume;
      }
      case kColon:
        if (b != ':') return Step::Reject;
        f.phase = kAfterColon;
        f.flags &= ~kSpaceUsed;
        return Step::Consume;
      case kAfterColon:
        if (space(f, b)) return Step::Consume;
        f.phase = kAfterValue;
        f.index += 1;  // keys after this one come from later properties
        return push(n.properties[f.index - 1].value);
      case kAfterValue:
        if (b == '}' && may_close(n, f.index)) return Step::Done;
        if (b != ',' || f.index >= n.properties.size() || !key_possible(n, f.index)) return Step::Reject;
        f.phase = kAfterComma;
        f.flags &= ~kSpaceUsed;
        return Step::Consume;
    }
    return Step::Reject;
  }

  Step free_object(Frame& f, const Node& n, std::uint8_t b) {
    const NodeId key_node = n.children[0];
    const bool pair_fits = fits(g, depth, key_node) && fits(g, depth, n.child);
    switch (f.phase) {
      case kStart:
        if (b != '{') return Step::Reject;
        f.phase = kAfterOpen;
        return Step::Consume;
      case kAfterOpen:
        if (b == '}') return Step::Done;
        if (b != '"' || !pair_fits) return Step::Reject;
        f.phase = kColon;
        return push(key_node);
      case kAfterComma:
        if (space(f, b)) return Step::Consume;
        if (b != '"') return Step::Reject;
        f.phase = kColon;
        return push(key_node);
      case kColon:
        if (b != ':') return Step::Reject;
        f.phase = kAfterColon;
        f.flags &= ~kSpaceUsed;
        return Step::Consume;
      case kAfterColon:
        if (space(f, b)) return Step::Consume;
        f.phase = kAfterValue;
        return push(n.child);
      case kAfterValue:
        if (b == '}') return Step::Done;
        if (b != ',' || !pair_fits) return Step::Reject;
        f.phase = kAfterComma;
        f.flags &= ~kSpaceUsed;
        return Step::Consume;
    }
    return Step::Reject;
  }

  Step array(Frame& f, const Node& n, std::uint8_t b) {
    switch (f.phase) {
      case kStart:
        if (b != '[') return Step::Reject;
        f.phase = kAfterOpen;
        return Step::Consume;
      case kAfterOpen:
        if (b == ']' && n.min_items == 0) return Step::Done;
        if (n.max_items == 0 || !fits(g, depth, n.child)) return Step::Reject;
        f.index = 1;
        f.phase = kAfterValue;
        return push(n.child);
      case kAfterValue:
        if (b == ']' && f.index >= n.min_items) return Step::Done;
        if (b != ',' || f.index >= n.max_items || !fits(g, depth, n.child)) return Step::Reject;
        f.phase = kAfterComma;
        f.flags &= ~kSpaceUsed;
        return Step::Consume;
      case kAfterComma:
        if (space(f, b)) return Step::Consume;
        f.index += 1;
        f.phase = kAfterValue;
        return push(n.child);
    }
    return Step::Reject;
  }

  static Step string(Frame& f, std::uint8_t b) {
    switch (f.phase) {
      case kStart:
        if (b != '"') return Step::Reject;
        f.phase = kStrBody;
        return Step::Consume;
      case kStrBody:
        if (b == '"') return Step::Done;
        if (b == '\\') {
          f.phase = kStrEscape;
          return Step::Consume;
        }
        if (b < 0x20) return Step::Reject;
        if (b < 0x80) return Step::Consume;
        // UTF-8 as RFC 3629 has it: the first continuation byte's range depends on the lead.
        if (b >= 0xC2 && b <= 0xDF) return utf8(f, 1, 0x80, 0xBF);
        if (b == 0xE0) return utf8(f, 2, 0xA0, 0xBF);
        if (b == 0xED) return utf8(f, 2, 0x80, 0x9F);
        if (b >= 0xE1 && b <= 0xEF) return utf8(f, 2, 0x80, 0xBF);
        if (b == 0xF0) return utf8(f, 3, 0x90, 0xBF);
        if (b >= 0xF1 && b <= 0xF3) return utf8(f, 3, 0x80, 0xBF);
        if (b == 0xF4) return utf8(f, 3, 0x80, 0x8F);
        return Step::Reject;
      case kStrUtf8: {
        const std::uint8_t lo = f.aux & 0xFF, hi = f.aux >> 8;
        if (b < lo || b > hi) return Step::Reject;
        if (--f.index == 0) f.phase = kStrBody;
        f.aux = 0x80 | (0xBF << 8);
        return Step::Consume;
      }
      case kStrEscape:
        if (b == 'u') {
          f.phase = kStrHex;
          f.pos = 0;
          f.aux = 0;
          return Step::Consume;
        }
        if (std::string_view("\"\\/bfnrt").find(static_cast<char>(b)) == std::string_view::npos) return Step::Reject;
        f.phase = kStrBody;
        return Step::Consume;
      case kStrHex: {
        const int v = hex_value(b);
        if (v < 0) return Step::Reject;
        // Surrogates: a high half (D800-DBFF) must be followed by \u and a low half
        // (DC00-DFFF), and a low half never comes alone. Decided at the second digit, so that
        // no accepted prefix is a dead end.
        if (f.flags & kNeedLow) {
          if (f.pos == 0 && v != 0xD) return Step::Reject;
          if (f.pos == 1 && v < 0xC) return Step::Reject;
        } else if (f.pos == 1 && f.aux == 0xD && v >= 0xC) {
          return Step::Reject;
        }
        f.aux = static_cast<std::uint16_t>(f.aux << 4 | v);
        if (++f.pos < 4) return Step::Consume;
        if (!(f.flags & kNeedLow) && f.aux >= 0xD800 && f.aux <= 0xDBFF) {
          f.flags |= kNeedLow;
          f.phase = kStrLowBackslash;
        } else {
          f.flags &= ~kNeedLow;
          f.phase = kStrBody;
        }
        return Step::Consume;
      }
      case kStrLowBackslash:
        if (b != '\\') return Step::Reject;
        f.phase = kStrLowU;
        return Step::Consume;
      case kStrLowU:
        if (b != 'u') return Step::Reject;
        f.phase = kStrHex;
        f.pos = 0;
        f.aux = 0;
        return Step::Consume;
    }
    return Step::Reject;
  }
  static Step utf8(Frame& f, int continuation_bytes, std::uint8_t lo, std::uint8_t hi) {
    f.phase = kStrUtf8;
    f.index = static_cast<std::uint32_t>(continuation_bytes);
    f.aux = static_cast<std::uint16_t>(lo | hi << 8);
    return Step::Consume;
  }

  static bool number_accepting(const Frame& f) {
    return f.phase == kNumZero || f.phase == kNumInt || f.phase == kNumFrac || f.phase == kNumExp;
  }
  static Step number(Frame& f, bool integer, std::uint8_t b) {
    auto go = [&](std::uint8_t phase, std::uint16_t digits) {
      f.phase = phase;
      f.aux = digits;
      return Step::Consume;
    };
    const bool digit = is_digit(b);
    switch (f.phase) {
      case kStart:
        if (b == '-') return go(kNumMinus, 0);
        [[fallthrough]];
      case kNumMinus:
        if (b == '0') return go(kNumZero, 1);
        if (digit) return go(kNumInt, 1);
        return Step::Reject;
      case kNumZero:
      case kNumInt:
        if (digit && f.phase == kNumInt && f.aux < kMaxIntDigits) return go(kNumInt, f.aux + 1);
        if (!integer && b == '.') return go(kNumFracStart, 0);
        if (!integer && (b == 'e' || b == 'E')) return go(kNumExpStart, 0);
        return digit ? Step::Reject : Step::Pop;
      case kNumFracStart:
        return digit ? go(kNumFrac, 1) : Step::Reject;
      case kNumFrac:
        if (digit) return f.aux < kMaxFracDigits ? go(kNumFrac, f.aux + 1) : Step::Reject;
        if (b == 'e' || b == 'E') return go(kNumExpStart, 0);
        return Step::Pop;
      case kNumExpStart:
        if (b == '+' || b == '-') return go(kNumExpSign, 0);
        [[fallthrough]];
      case kNumExpSign:
        return digit ? go(kNumExp, 1) : Step::Reject;
      case kNumExp:
        if (digit) return f.aux < kMaxExpDigits ? go(kNumExp, f.aux + 1) : Step::Reject;
        return Step::Pop;
    }
    return Step::Reject;
  }

  static Step literals(Frame& f, const Node& n, std::uint8_t b) {
    auto text = [&](std::uint32_t k) { return std::string_view(n.literals[k]); };
    const auto hi = static_cast<std::uint32_t>(n.literals.size() - 1);
    const std::int64_t k = advance_literal(f.index, hi, f.pos, b, text, [](std::uint32_t) { return true; });
    if (k < 0) return literal_ends(f.index, hi, f.pos, text) ? Step::Pop : Step::Reject;
    f.index = static_cast<std::uint32_t>(k);
    f.pos += 1;
    // Finished as soon as no candidate is longer; else (1 and 12) it ends at the next byte.
    return literal_continues(f.index, hi, f.pos, text) ? Step::Consume : Step::Done;
  }

  Step operator()(Frame& f, std::uint8_t b) {
    const Node& n = g.node(f.node);
    switch (n.kind) {
      case NodeKind::Object: return object(f, n, b);
      case NodeKind::FreeObject: return free_object(f, n, b);
      case NodeKind::Array: return array(f, n, b);
      case NodeKind::String: return string(f, b);
      case NodeKind::Number: return number(f, false, b);
      case NodeKind::Integer: return number(f, true, b);
      case NodeKind::Literals: return literals(f, n, b);
      case NodeKind::Sequence:
        if (f.index >= n.children.size()) return Step::Pop;
        return push(n.children[f.index++]);
      case NodeKind::AnyOf: break;  // never on a stack: push_and_feed expands it
    }
    return Step::Reject;
  }
};

// A finished child may finish its parent: a sequence whose last part just closed.
void settle(const Grammar& g, Stack& s) {
  while (s.depth > 0) {
    const Frame& top = s.frames[s.depth - 1];
    const Node& n = g.node(top.node);
    if (n.kind != NodeKind::Sequence || top.index < n.children.size()) return;
    --s.depth;
  }
}

// Whether the frame may end here (at the end of the text, or before its parent's next byte).
bool may_end(const Grammar& g, const Frame& f) {
  const Node& n = g.node(f.node);
  switch (n.kind) {
    case NodeKind::Number:
    case NodeKind::Integer: return Handler::number_accepting(f);
    case NodeKind::Literals:
      return literal_ends(f.index, static_cast<std::uint32_t>(n.literals.size() - 1), f.pos,
                          [&](std::uint32_t k) { return std::string_view(n.literals[k]); });
    case NodeKind::Sequence: return f.index >= n.children.size();
    default: return false;
  }
}

}  // namespace

Acceptor::Acceptor(const Grammar& grammar) : grammar_(&grammar) {
  // The empty text: a stack holding the sequence of one part that wraps the root, so that an
  // empty stack means "a whole value, nothing more".
  Stack s;
  s.frames[0].node = grammar.start();
  s.depth = 1;
  stacks_.push_back(s);
}

void Acceptor::push_and_feed(Stack s, NodeId node, std::uint8_t byte, std::vector<Stack>& out) const {
  const Grammar& g = *grammar_;
  if (!fits(g, s.depth, node)) return;
  const Node& n = g.node(node);
  if (n.kind == NodeKind::AnyOf) {
    for (NodeId alt : n.children) push_and_feed(s, alt, byte, out);
    return;
  }
  s.frames[s.depth] = Frame{};
  s.frames[s.depth++].node = node;
  feed_stack(s, byte, out);
}

void Acceptor::feed_stack(Stack s, std::uint8_t byte, std::vector<Stack>& out) const {
  const Grammar& g = *grammar_;
  while (s.depth > 0) {
    Handler handle{g, s.depth};
    switch (handle(s.frames[s.depth - 1], byte)) {
      case Step::Consume:
        out.push_back(s);
        return;
      case Step::Done:
        --s.depth;
        settle(g, s);
        out.push_back(s);
        return;
      case Step::Reject: return;
      case Step::Pop:
        --s.depth;
        continue;
      case Step::Push: push_and_feed(s, handle.child, byte, out); return;
    }
  }
}

bool Acceptor::step(const std::vector<Stack>& from, std::uint8_t byte, std::vector<Stack>& to) const {
  to.clear();
  for (const Stack& s : from) {
    const std::size_t before = to.size();
    feed_stack(s, byte, to);
    // Forks under anyOf can meet again (anyOf [string, string]): keep one of each.
    for (std::size_t i = before; i < to.size();) {
      if (std::find(to.begin(), to.begin() + static_cast<std::ptrdiff_t>(i), to[i]) != to.begin() + i) {
        to.erase(to.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
  return !to.empty();
}

bool Acceptor::feed(std::uint8_t byte) {
  if (!step(stacks_, byte, scratch_)) return false;
  stacks_.swap(scratch_);
  return true;
}

bool Acceptor::feed(std::string_view bytes) {
  std::vector<Stack> saved = stacks_;
  for (char c : bytes)
    if (!feed(static_cast<std::uint8_t>(c))) {
      stacks_ = std::move(saved);
      return false;
    }
  return true;
}

bool Acceptor::complete(const std::vector<Stack>& stacks) const {
  for (Stack s : stacks) {
    while (s.depth > 0 && may_end(*grammar_, s.frames[s.depth - 1])) --s.depth;
    if (s.depth == 0) return true;
  }
  return false;
}

bool Acceptor::complete() const { return complete(stacks_); }

bool Acceptor::can_continue() const {
  std::vector<Stack> to;
  for (int b = 0; b < 256; ++b)
    if (step(stacks_, static_cast<std::uint8_t>(b), to)) return true;
  return false;
}

}  // namespace llama2::json_schema
