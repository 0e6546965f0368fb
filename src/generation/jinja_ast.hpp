// The parsed form of a Jinja template: expressions and statements, as jinja_parse.cpp builds
// them and jinja_eval.cpp walks them. Internal to the interpreter.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "generation/jinja.hpp"

namespace llama2::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    Member,   // args[0].name
    Index,    // args[0][args[1]]
    Slice,    // args[0][args[1]:args[2]:args[3]] (null entries: omitted)
    Call,     // args[0](args[1..], kwargs)
    Filter,   // args[0] | name(args[1..], kwargs)
    Test,     // args[0] is [not] name(args[1..])
    Unary,    // name ("not", "-", "+") args[0]
    Binary,   // args[0] name args[1]: or and == != < <= > >= in "not in" + - * / // % ** ~
    Cond,     // args[0] if args[1] else args[2] (args[2] null: undefined)
    List,     // [args...]
    Dict,     // {kwargs keys (evaluated from args at even positions) ...}: args = k0, v0, k1, v1
  };
  Kind kind;
  std::string name;
  Json value;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // Test: "is not"
  int line = 0;
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  enum class Kind {
    Text,      // text
    Output,    // {{ expr }}
    If,        // branches: (condition, body) pairs; a null condition is the else
    For,       // for targets in expr [if filter]: body [else: else_body]
    Set,       // set targets[0][.attribute] = expr
    SetBlock,  // set targets[0]: body rendered into it
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr, filter;
  std::vector<std::string> targets;
  std::string attribute;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
};

struct Program {
  Body body;
};

}  // namespace llama2::jinja
