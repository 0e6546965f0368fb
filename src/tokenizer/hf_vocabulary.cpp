// A byte-level Vocabulary from Hugging Face's tokenizer.json / tokenizer_config.json, read the
// way llama.cpp's converter reads them (see vocabulary.hpp).
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/vocabulary.hpp"

namespace llama2 {

namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open '" + path + "'");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error("'" + path + "' is not valid JSON: " + e.what());
  }
}

// Every pre-tokenizer step, flattening Sequence nodes.
void collect_steps(const json& node, std::vector<const json*>& out) {
  if (!node.is_object()) return;
  if (node.value("type", "") == "Sequence") {
    // By reference: value() would return a copy, and `out` keeps pointers into the tree.
    if (const auto it = node.find("pretokenizers"); it != node.end())
      for (const json& step : *it) collect_steps(step, out);
    return;
  }
  out.push_back(&node);
}

// llama.cpp names a vocabulary's pre-tokenizer by hashing its output; the split regex in the
// file says the same thing more directly.
std::string recognise_pre_tokenizer(const json& pre_tokenizer) {
  std::vector<const json*> steps;
  collect_steps(pre_tokenizer, steps);
  bool byte_level = false, split_digits = false;
  std::vector<std::string> regexes;
  for (const json* s : steps) {
    const std::string type = s->value("type", "");
    if (type == "ByteLevel") byte_level = true;
    if (type == "Digits" && s->value("individual_digits", false)) split_digits = true;
    if (type == "Split" && s->contains("pattern") && (*s)["pattern"].contains("Regex"))
      regexes.push_back((*s)["pattern"]["Regex"].get<std::string>());
  }
  if (!byte_level) throw Error("the tokenizer is not byte-level BPE (no ByteLevel pre-tokenizer)");
  constexpr std::string_view kWords = "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+";
  for (const std::string& r : regexes) {
    if (r.find(kWords) != std::string::npos && r.find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
    if (r.find(kWords) != std::string::npos && r.find("|\\p{N}|") != std::string::npos) return "qwen2";
  }
  if (regexes.empty()) return split_digits ? "smollm" : "gpt2";
  throw Error("the tokenizer's pre-tokenizer regex is not one this engine knows (Llama 3, Qwen2, SmolLM, GPT-2): " +
              regexes.front().substr(0, 80));
}

// A special token named in tokenizer_config.json: a string, {"content": ...}, or null.
std::string token_text(const json& config, const char* key) {
  if (!config.contains(key)) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

// The special token a TemplateProcessing post-processor puts before the text, if any.
std::string template_bos(const json& node) {
  if (!node.is_object()) return "";
  if (node.value("type", "") == "Sequence") {
    for (const json& p : node.value("processors", json::array()))
      if (std::string t = template_bos(p); !t.empty()) return t;
    return "";
  }
  if (node.value("type", "") != "TemplateProcessing" || !node.contains("single")) return "";
  const json& single = node["single"];
  if (!single.is_array() || single.empty() || !single[0].contains("SpecialToken")) return "";
  return single[0]["SpecialToken"].value("id", "");
}

}  // namespace

Vocabulary vocabulary_from_hf_tokenizer(const std::string& tokenizer_json, const std::string& config_json,
                                        const std::string& pre) {
  const json j = read_json(tokenizer_json);
  const json config = config_json.empty() ? json::object() : read_json(config_json);
  try {
    const json& model = j.at("model");
    if (model.value("type", "") != "BPE") throw Error("'" + tokenizer_json + "' is not a BPE tokenizer");
    Vocabulary v;
    v.model = "gpt2";
    // Tokens in id order; ids the file skips stay unused (as the converter pads them).
    auto put = [&](std::size_t id, const std::string& token, std::int32_t type) {
      if (id >= (1u << 22)) throw Error("token id " + std::to_string(id) + " is implausibly large");
      if (id >= v.pieces.size()) {
        v.pieces.resize(id + 1);
        v.token_types.resize(id + 1, kTokenUnused);
      }
      v.pieces[id] = token;
      v.token_types[id] = type;
    };
    for (const auto& [token, id] : model.at("vocab").items()) put(id.get<std::size_t>(), token, kTokenNormal);
    for (const json& t : j.value("added_tokens", json::array()))
      put(t.at("id").get<std::size_t>(), t.at("content").get<std::string>(),
          t.value("special", false) ? kTokenControl : kTokenUserDefined);
    // Unused ids need a spelling of their own: the converter writes "[PAD<id>]".
    for (std::size_t id = 0; id < v.pieces.size(); ++id)
      if (v.token_types[id] == kTokenUnused && v.pieces[id].empty()) v.pieces[id] = "[PAD" + std::to_string(id) + "]";
    // As in GGUF, added tokens keep their plain text; the others are in the byte-level spelling.
    for (const json& m : model.at("merges"))
      v.merges.push_back(m.is_string() ? m.get<std::string>() : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
    v.ignore_merges = model.value("ignore_merges", false);
    v.pre = pre.empty() ? recognise_pre_tokenizer(j.value("pre_tokenizer", json::object())) : pre;
    pre_tokenizer_from_name(v.pre);  // an unknown name fails here, not at load time

    auto id_of = [&](const std::string& text) -> TokenId {
      if (text.empty()) return -1;  // special tokens are added tokens: plain text
      for (std::size_t id = 0; id < v.pieces.size(); ++id)
        if (v.pieces[id] == text && v.token_types[id] != kTokenNormal) return static_cast<TokenId>(id);
      return -1;
    };
    const std::string bos_from_template = template_bos(j.value("post_processor", json::object()));
    const TokenId eos = id_of(token_text(config, "eos_token"));
    TokenId bos = id_of(token_text(config, "bos_token"));
    if (bos < 0) bos = id_of(bos_from_template);
    if (bos < 0) bos = id_of("<|endoftext|>");  // Qwen names none; its GGUFs use this one
    if (eos < 0) throw Error("'" + (config_json.empty() ? tokenizer_json : config_json) + "' names no EOS token");
    v.eos = eos;
    v.bos = bos < 0 ? eos : bos;
    // The converter's rule: the config's add_bos_token, else the post-processor's template;
    // llama.cpp adds BOS for Llama 3's pre-tokenizer when neither says.
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean())
      v.add_bos = config["add_bos_token"].get<bool>();
    else
      v.add_bos = !bos_from_template.empty() || v.pre == "llama-bpe";
    if (config.contains("chat_template")) {
      const json& t = config["chat_template"];
      if (t.is_string()) {
        v.chat_template = t.get<std::string>();
      } else if (t.is_array()) {  // named templates: the "default" one
        for (const json& named : t)
          if (named.value("name", "") == "default") v.chat_template = named.value("template", "");
      }
    }
    v.scores.assign(v.pieces.size(), 0.0f);
    return v;
  } catch (const json::exception& e) {
    throw Error("'" + tokenizer_json + "' is not a tokenizer.json this engine reads: " + e.what());
  }
}

}  // namespace llama2
