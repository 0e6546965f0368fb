// Jinja source -> Program. Two passes: the source is cut into text and tags (applying
// whitespace control, trim_blocks and lstrip_blocks as Hugging Face renders chat templates),
// then each tag's tokens are parsed by recursive descent, with Jinja's operator precedence:
//   x if c else y  <  or  <  and  <  not  <  comparisons, in, is  <  + -  <  ~  <  * / // %
//   <  **  <  unary -  <  postfix: .name [i] (args) | filter
#include <cctype>
#include <cstdlib>

#include "core/error.hpp"
#include "generation/jinja_ast.hpp"

namespace llama2::jinja {

namespace {

[[noreturn]] void fail(int line, const std::string& what) {
  throw Error("chat template line " + std::to_string(line) + ": " + what);
}

// ---- pass 1: text and tags ----

struct Piece {
  enum class Kind { Text, Output, Statement } kind;
  std::string text;  // the text, or the tag's inside without its delimiters and '-'
  int line;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The end of the tag whose inside starts at `i`, skipping string literals (a "%}" inside quotes
// does not close it).
std::size_t find_tag_end(std::string_view src, std::size_t i, std::string_view close, int line) {
  char quote = 0;
  for (; i + 1 < src.size(); ++i) {
    const char c = src[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (src.compare(i, close.size(), close) == 0) {
      return i;
    }
  }
  fail(line, std::string("a tag is not closed with '") + std::string(close) + "'");
}

std::vector<Piece> split_pieces(std::string_view src) {
  std::vector<Piece> pieces;
  std::size_t pos = 0;
  int line = 1;
  bool strip_next = false;  // the previous tag ended with '-'
  bool trim_newline = false;  // the previous tag was a block or comment (trim_blocks)
  auto count_lines = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k) line += src[k] == '\n';
  };
  while (pos < src.size()) {
    std::size_t at = pos;
    while ((at = src.find('{', at)) != std::string_view::npos && at + 1 < src.size() && src[at + 1] != '{' &&
           src[at + 1] != '%' && src[at + 1] != '#')
      ++at;
    if (at != std::string_view::npos && at + 1 >= src.size()) at = std::string_view::npos;
    std::string text(src.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    const int text_line = line;
    count_lines(pos, at == std::string_view::npos ? src.size() : at);
    if (strip_next) {
      std::size_t k = 0;
      while (k < text.size() && is_space(text[k])) ++k;
      text.erase(0, k);
    } else if (trim_newline) {
      if (text.starts_with("\r\n")) text.erase(0, 2);
      else if (text.starts_with("\n")) text.erase(0, 1);
    }
    if (at == std::string_view::npos) {
      if (!text.empty()) pieces.push_back({Piece::Kind::Text, std::move(text), text_line});
      break;
    }
    const char kind = src[at + 1];
    std::size_t inner = at + 2;
    const bool strip_before = inner < src.size() && src[inner] == '-';
    const bool keep_before = inner < src.size() && src[inner] == '+';
    if (strip_before || keep_before) ++inner;
    if (strip_before) {
      while (!text.empty() && is_space(text.back())) text.pop_back();
    } else if (kind != '{' && !keep_before) {
      // lstrip_blocks: spaces and tabs between a line's start and a block tag go.
      std::size_t b = at;
      while (b > pos && (src[b - 1] == ' ' || src[b - 1] == '\t')) --b;
      if (b == 0 || src[b - 1] == '\n') text.erase(text.size() - std::min(text.size(), at - b));
    }
    if (!text.empty()) pieces.push_back({Piece::Kind::Text, std::move(text), text_line});

    const std::string_view close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const std::size_t end =
        kind == '#' ? src.find(close, inner) : find_tag_end(src, inner, close, line);
    if (end == std::string_view::npos) fail(line, "a comment is not closed with '#}'");
    std::size_t inner_end = end;
    strip_next = inner_end > inner && src[inner_end - 1] == '-';
    if (strip_next) --inner_end;
    trim_newline = kind != '{';
    if (kind != '#')
      pieces.push_back({kind == '{' ? Piece::Kind::Output : Piece::Kind::Statement,
                        std::string(src.substr(inner, inner_end - inner)), line});
    count_lines(at, end + 2);
    pos = end + 2;
  }
  return pieces;
}

// ---- pass 2: tokens of one tag ----

struct Token {
  enum class Kind { Name, Number, String, Op, End } kind;
  std::string text;
  Json number;
};

std::vector<Token> lex(const std::string& s, int line) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c)) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Kind::Name, s.substr(i, j - i), {}});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.' || s[j] == '_')) {
        if (s[j] == '.') {
          if (is_float || j + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[j + 1]))) break;
          is_float = true;
        }
        ++j;
      }
      std::string digits;
      for (std::size_t k = i; k < j; ++k)
        if (s[k] != '_') digits += s[k];
      Token t{Token::Kind::Number, digits, {}};
      if (is_float) t.number = std::strtod(digits.c_str(), nullptr);
      else t.number = static_cast<std::int64_t>(std::strtoll(digits.c_str(), nullptr, 10));
      out.push_back(std::move(t));
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string value;
      std::size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          value += s[j];
          continue;
        }
        switch (const char e = s[++j]) {
          case 'n': value += '\n'; break;
          case 't': value += '\t'; break;
          case 'r': value += '\r'; break;
          case '0': value += '\0'; break;
          default: value += e;  // \\ \' \" and anything else: the character itself
        }
      }
      if (j >= s.size()) fail(line, "a string literal is not closed");
      out.push_back({Token::Kind::String, std::move(value), {}});
      i = j + 1;
    } else {
      static const char* const kOps[] = {"==", "!=", "<=", ">=", "//", "**", "<", ">", "+", "-", "*", "/", "%",
                                         "~",  "|",  ".",  ",",  ":",  "(",  ")", "[", "]", "{", "}", "="};
      std::string op;
      for (const char* o : kOps)
        if (s.compare(i, std::char_traits<char>::length(o), o) == 0) {
          op = o;
          break;
        }
      if (op.empty()) fail(line, std::string("unexpected character '") + printable(std::string(1, c)) + "'");
      out.push_back({Token::Kind::Op, op, {}});
      i += op.size();
    }
  }
  out.push_back({Token::Kind::End, "", {}});
  return out;
}

// ---- expressions ----

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, int line) : t_(std::move(tokens)), line_(line) {}

  const Token& peek(std::size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  bool at_end() const { return peek().kind == Token::Kind::End; }
  bool is_op(std::string_view op) const { return peek().kind == Token::Kind::Op && peek().text == op; }
  bool is_name(std::string_view name) const { return peek().kind == Token::Kind::Name && peek().text == name; }
  bool accept_op(std::string_view op) { return is_op(op) ? (++i_, true) : false; }
  bool accept_name(std::string_view name) { return is_name(name) ? (++i_, true) : false; }
  void expect_op(std::string_view op) {
    if (!accept_op(op)) fail(line_, "expected '" + std::string(op) + "' but found " + describe());
  }
  std::string expect_name() {
    if (peek().kind != Token::Kind::Name) fail(line_, "expected a name but found " + describe());
    return t_[i_++].text;
  }
  void expect_end() {
    if (!at_end()) fail(line_, "unexpected " + describe());
  }
  std::string describe() const { return at_end() ? "the end of the tag" : "'" + printable(peek().text) + "'"; }

  // A full expression, with the conditional form. Nesting is bounded: a hostile template's
  // "((((..." must not exhaust the stack.
  ExprPtr expression(bool allow_cond = true) {
    if (++depth_ > kMaxDepth) fail(line_, "expressions nested more than " + std::to_string(kMaxDepth) + " deep");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    ExprPtr e = or_expr();
    if (allow_cond && is_name("if")) {
      ++i_;
      ExprPtr cond = or_expr();
      ExprPtr other;
      if (accept_name("else")) other = expression();
      return node(Expr::Kind::Cond, "", std::move(e), std::move(cond), std::move(other));
    }
    return e;
  }
  ExprPtr or_expr() {
    ExprPtr e = and_expr();
    while (accept_name("or")) e = node(Expr::Kind::Binary, "or", std::move(e), and_expr());
    return e;
  }

 private:
  template <typename... A>
  ExprPtr node(Expr::Kind kind, std::string name, A&&... args) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->name = std::move(name);
    e->line = line_;
    (e->args.push_back(std::forward<A>(args)), ...);
    return e;
  }

  ExprPtr and_expr() {
    ExprPtr e = not_expr();
    while (accept_name("and")) e = node(Expr::Kind::Binary, "and", std::move(e), not_expr());
    return e;
  }
  ExprPtr not_expr() {
    if (accept_name("not")) return node(Expr::Kind::Unary, "not", expression_guarded(&ExprParser::not_expr));
    return compare();
  }
  // A recursion that does not pass through expression() counts towards the same bound.
  ExprPtr expression_guarded(ExprPtr (ExprParser::*parse)()) {
    if (++depth_ > kMaxDepth) fail(line_, "expressions nested more than " + std::to_string(kMaxDepth) + " deep");
    ExprPtr e = (this->*parse)();
    --depth_;
    return e;
  }
  ExprPtr compare() {
    ExprPtr e = add();
    for (;;) {
      static const char* const kCmp[] = {"==", "!=", "<=", ">=", "<", ">"};
      bool matched = false;
      for (const char* op : kCmp)
        if (accept_op(op)) {
          e = node(Expr::Kind::Binary, op, std::move(e), add());
          matched = true;
          break;
        }
      if (matched) continue;
      if (accept_name("in")) {
        e = node(Expr::Kind::Binary, "in", std::move(e), add());
      } else if (is_name("not") && peek(1).kind == Token::Kind::Name && peek(1).text == "in") {
        i_ += 2;
        e = node(Expr::Kind::Binary, "not in", std::move(e), add());
      } else if (accept_name("is")) {
        const bool negated = accept_name("not");
        ExprPtr test = node(Expr::Kind::Test, expect_name(), std::move(e));
        test->negated = negated;
        // `x is divisibleby(3)`, `x is equalto 3`: one argument, bracketed or not.
        if (accept_op("(")) {
          arguments(*test);
        } else if (!at_end() && (peek().kind == Token::Kind::Number || peek().kind == Token::Kind::String ||
                                 (peek().kind == Token::Kind::Name && !is_name("and") && !is_name("or") &&
                                  !is_name("if") && !is_name("else")))) {
          test->args.push_back(add());
        }
        e = std::move(test);
      } else {
        return e;
      }
    }
  }
  ExprPtr add() {
    ExprPtr e = concat();
    for (;;) {
      if (accept_op("+")) e = node(Expr::Kind::Binary, "+", std::move(e), concat());
      else if (accept_op("-")) e = node(Expr::Kind::Binary, "-", std::move(e), concat());
      else return e;
    }
  }
  ExprPtr concat() {
    ExprPtr e = multiply();
    while (accept_op("~")) e = node(Expr::Kind::Binary, "~", std::move(e), multiply());
    return e;
  }
  ExprPtr multiply() {
    ExprPtr e = power();
    for (;;) {
      std::string op;
      for (const char* o : {"*", "//", "/", "%"})
        if (accept_op(o)) {
          op = o;
          break;
        }
      if (op.empty()) return e;
      e = node(Expr::Kind::Binary, op, std::move(e), power());
    }
  }
  ExprPtr power() {
    ExprPtr e = unary();
    if (accept_op("**")) e = node(Expr::Kind::Binary, "**", std::move(e), unary());
    return e;
  }
  ExprPtr unary() {
    if (accept_op("-")) return node(Expr::Kind::Unary, "-", expression_guarded(&ExprParser::unary));
    if (accept_op("+")) return node(Expr::Kind::Unary, "+", expression_guarded(&ExprParser::unary));
    return postfix(primary());
  }

  ExprPtr primary() {
    const Token& t = peek();
    if (t.kind == Token::Kind::Number) {
      auto e = node(Expr::Kind::Literal, "");
      e->value = t_[i_++].number;
      return e;
    }
    if (t.kind == Token::Kind::String) {
      std::string s = t_[i_++].text;
      while (peek().kind == Token::Kind::String) s += t_[i_++].text;  // adjacent literals join
      auto e = node(Expr::Kind::Literal, "");
      e->value = std::move(s);
      return e;
    }
    if (t.kind == Token::Kind::Name) {
      const std::string name = t_[i_++].text;
      auto e = node(Expr::Kind::Literal, "");
      if (name == "true" || name == "True") e->value = true;
      else if (name == "false" || name == "False") e->value = false;
      else if (name == "none" || name == "None") e->value = nullptr;
      else return node(Expr::Kind::Name, name);
      return e;
    }
    if (accept_op("(")) {
      ExprPtr e = expression();
      if (accept_op(",")) {  // a tuple: read as a list
        auto list = node(Expr::Kind::List, "", std::move(e));
        while (!is_op(")")) {
          list->args.push_back(expression());
          if (!accept_op(",")) break;
        }
        e = std::move(list);
      }
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      auto list = node(Expr::Kind::List, "");
      while (!is_op("]")) {
        list->args.push_back(expression());
        if (!accept_op(",")) break;
      }
      expect_op("]");
      return list;
    }
    if (accept_op("{")) {
      auto dict = node(Expr::Kind::Dict, "");
      while (!is_op("}")) {
        dict->args.push_back(expression());
        expect_op(":");
        dict->args.push_back(expression());
        if (!accept_op(",")) break;
      }
      expect_op("}");
      return dict;
    }
    fail(line_, "expected a value but found " + describe());
  }

  // Arguments after '(' up to and including ')': positional, then name=value.
  void arguments(Expr& call) {
    while (!is_op(")")) {
      if (peek().kind == Token::Kind::Name && peek(1).kind == Token::Kind::Op && peek(1).text == "=") {
        std::string key = t_[i_].text;
        i_ += 2;
        call.kwargs.emplace_back(std::move(key), expression());
      } else {
        if (!call.kwargs.empty()) fail(line_, "a positional argument follows a keyword argument");
        call.args.push_back(expression());
      }
      if (!accept_op(",")) break;
    }
    expect_op(")");
  }

  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      if (accept_op(".")) {
        e = node(Expr::Kind::Member, expect_name(), std::move(e));
      } else if (accept_op("[")) {
        ExprPtr parts[3];
        int colons = 0;
        while (!is_op("]")) {
          if (accept_op(":")) {
            if (++colons > 2) fail(line_, "a slice has at most two ':'");
            continue;
          }
          if (parts[colons]) fail(line_, "expected ']' but found " + describe());
          parts[colons] = expression();
        }
        expect_op("]");
        if (colons == 0) {
          if (!parts[0]) fail(line_, "an empty subscript");
          e = node(Expr::Kind::Index, "", std::move(e), std::move(parts[0]));
        } else {
          e = node(Expr::Kind::Slice, "", std::move(e), std::move(parts[0]), std::move(parts[1]), std::move(parts[2]));
        }
      } else if (accept_op("(")) {
        auto call = node(Expr::Kind::Call, "", std::move(e));
        arguments(*call);
        e = std::move(call);
      } else if (accept_op("|")) {
        auto filter = node(Expr::Kind::Filter, expect_name(), std::move(e));
        if (accept_op("(")) arguments(*filter);
        e = std::move(filter);
      } else {
        return e;
      }
    }
  }

  static constexpr int kMaxDepth = 100;
  std::vector<Token> t_;
  std::size_t i_ = 0;
  int line_;
  int depth_ = 0;
};

// ---- statements ----

class StmtParser {
 public:
  explicit StmtParser(std::vector<Piece> pieces) : p_(std::move(pieces)) {}

  Body parse_all() {
    std::string end;
    Body body = block({}, end);
    if (!end.empty()) fail(p_[i_ - 1].line, "'" + end + "' without a block to close");
    return body;
  }

 private:
  // Statements up to one whose keyword is in `ends` (consumed; its parser left in `tag_`).
  Body block(std::initializer_list<std::string_view> ends, std::string& end_found) {
    if (ends.size() != 0 && ++depth_ > kMaxDepth)
      fail(p_[i_ - 1].line, "blocks nested more than " + std::to_string(kMaxDepth) + " deep");
    struct Leave {
      int& d;
      bool nested;
      ~Leave() { d -= nested; }
    } leave{depth_, ends.size() != 0};
    Body body;
    end_found.clear();
    while (i_ < p_.size()) {
      const Piece& piece = p_[i_++];
      auto s = std::make_unique<Stmt>();
      s->line = piece.line;
      if (piece.kind == Piece::Kind::Text) {
        s->kind = Stmt::Kind::Text;
        s->text = piece.text;
        body.push_back(std::move(s));
        continue;
      }
      tag_ = std::make_unique<ExprParser>(lex(piece.text, piece.line), piece.line);
      if (piece.kind == Piece::Kind::Output) {
        s->kind = Stmt::Kind::Output;
        s->expr = tag_->expression();
        tag_->expect_end();
        body.push_back(std::move(s));
        continue;
      }
      const std::string keyword = tag_->expect_name();
      for (std::string_view e : ends)
        if (keyword == e) {
          end_found = keyword;
          return body;
        }
      if (keyword == "if") body.push_back(if_stmt(std::move(s)));
      else if (keyword == "for") body.push_back(for_stmt(std::move(s)));
      else if (keyword == "set") body.push_back(set_stmt(std::move(s)));
      else if (keyword == "elif" || keyword == "else" || keyword.starts_with("end"))
        fail(piece.line, "'" + keyword + "' without a block to close");
      else fail(piece.line, "unsupported tag '" + printable(keyword) + "'");
    }
    if (ends.size() != 0) fail(p_.empty() ? 1 : p_.back().line, "the template ends inside a block (missing '" +
                                                                   std::string(*std::prev(ends.end())) + "')");
    return body;
  }

  std::unique_ptr<Stmt> if_stmt(std::unique_ptr<Stmt> s) {
    s->kind = Stmt::Kind::If;
    ExprPtr cond = tag_->expression();
    tag_->expect_end();
    for (;;) {
      std::string end;
      Body body = block({"elif", "else", "endif"}, end);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "endif") break;
      if (end == "else") {
        tag_->expect_end();
        Body other = block({"endif"}, end);
        s->branches.emplace_back(nullptr, std::move(other));
        break;
      }
      cond = tag_->expression();
      tag_->expect_end();
    }
    tag_->expect_end();
    return s;
  }

  std::unique_ptr<Stmt> for_stmt(std::unique_ptr<Stmt> s) {
    s->kind = Stmt::Kind::For;
    do s->targets.push_back(tag_->expect_name());
    while (tag_->accept_op(","));
    if (!tag_->accept_name("in")) fail(s->line, "expected 'in' in a for loop");
    s->expr = tag_->expression(/*allow_cond=*/false);
    if (tag_->accept_name("if")) s->filter = tag_->expression(/*allow_cond=*/false);
    if (tag_->accept_name("recursive")) fail(s->line, "unsupported: recursive loops");
    tag_->expect_end();
    std::string end;
    s->body = block({"else", "endfor"}, end);
    if (end == "else") {
      tag_->expect_end();
      s->else_body = block({"endfor"}, end);
    }
    tag_->expect_end();
    return s;
  }

  std::unique_ptr<Stmt> set_stmt(std::unique_ptr<Stmt> s) {
    s->targets.push_back(tag_->expect_name());
    if (tag_->accept_op(".")) s->attribute = tag_->expect_name();
    if (tag_->at_end()) {
      if (!s->attribute.empty()) fail(s->line, "a block set needs a plain name");
      s->kind = Stmt::Kind::SetBlock;
      std::string end;
      s->body = block({"endset"}, end);
      tag_->expect_end();
      return s;
    }
    s->kind = Stmt::Kind::Set;
    tag_->expect_op("=");
    s->expr = tag_->expression();
    tag_->expect_end();
    return s;
  }

  static constexpr int kMaxDepth = 100;
  std::vector<Piece> p_;
  std::size_t i_ = 0;
  std::unique_ptr<ExprParser> tag_;
  int depth_ = 0;
};

}  // namespace

Template Template::parse(std::string_view source) {
  auto program = std::make_shared<Program>();
  program->body = StmtParser(split_pieces(source)).parse_all();
  return Template(std::move(program));
}

}  // namespace llama2::jinja
