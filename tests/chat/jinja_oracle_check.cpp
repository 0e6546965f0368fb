// jinja_oracle_check CASES.json: renders every case jinja_oracle.mjs recorded with our Jinja
// interpreter and compares with what @huggingface/jinja made of it: the same text, or an error
// where it raised one. Prints each difference (at most 10) and exits 1 if there is any.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "generation/jinja.hpp"

using llama2::jinja::Json;

namespace {

std::string as_json(const std::string& s) { return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace); }

// The two texts from a little before where they first differ.
std::string difference(const std::string& ours, const std::string& theirs) {
  std::size_t i = 0;
  while (i < ours.size() && i < theirs.size() && ours[i] == theirs[i]) ++i;
  const std::size_t from = i > 40 ? i - 40 : 0;
  return "at byte " + std::to_string(i) + "\n  ours:   " + as_json(ours.substr(from, 160)) +
         "\n  theirs: " + as_json(theirs.substr(from, 160));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: jinja_oracle_check CASES.json\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  const Json data = Json::parse(in);
  std::map<std::string, llama2::jinja::Template> templates;
  for (auto it = data["templates"].begin(); it != data["templates"].end(); ++it)
    templates.emplace(it.key(), llama2::jinja::Template::parse(it->get<std::string>()));
  llama2::jinja::RenderOptions options;
  const Json& today = data["today"];
  options.now = [&] {
    std::tm t{};
    t.tm_year = today[0].get<int>() - 1900;
    t.tm_mon = today[1].get<int>() - 1;
    t.tm_mday = today[2].get<int>();
    std::mktime(&t);  // fills the weekday
    return t;
  };
  std::map<std::string, int> rendered, refused;
  int failures = 0;
  for (const Json& c : data["cases"]) {
    const std::string name = c["template"];
    std::string ours, error;
    try {
      ours = templates.at(name).render(c["context"], options);
    } catch (const llama2::Error& e) {
      error = e.what();
    }
    std::string problem;
    if (c.contains("error")) {
      if (error.empty()) problem = "@huggingface/jinja raised \"" + c["error"].get<std::string>() + "\", we rendered " + as_json(ours);
      else ++refused[name];
    } else if (!error.empty()) {
      problem = "we raised \"" + error + "\", @huggingface/jinja rendered " + as_json(c["output"]);
    } else if (ours != c["output"].get<std::string>()) {
      problem = difference(ours, c["output"].get<std::string>());
    } else {
      ++rendered[name];
    }
    if (!problem.empty() && ++failures <= 10)
      std::cout << "DIFF " << name << " context " << c["context"].dump() << "\n  " << problem << "\n";
  }
  for (const auto& [name, n] : rendered)
    std::cout << name << ": " << n << " renderings equal, " << refused[name] << " refused by both\n";
  if (failures) std::cout << failures << " of " << data["cases"].size() << " cases differ\n";
  return failures ? 1 : 0;
}
