// ============================================================================
// llama2 convert IN OUT: between llama2.c checkpoints and GGUF.
//   OUT ending in .gguf  -> GGUF, weights in --type, vocabulary from -z or the input's own
//   anything else        -> llama2.c version 0 (fp32, dequantized)
// llama2 convert --random-shape tinyllama --type q4_k OUT.gguf: a random-weight model of a
// published shape, quantized as it is generated (for benchmarks; no 4 GB fp32 file needed).
// ============================================================================
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "core/mapped_file.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "format/gguf_writer.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::cli {

namespace {

bool ends_with_gguf(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
}

std::uint64_t file_size(const std::string& path) { return MappedFile(path).size(); }

// A Hugging Face tokenizer.json, with the tokenizer_config.json beside it when there is one.
Vocabulary read_hf_vocabulary(const std::string& tokenizer_json) {
  const std::filesystem::path config = std::filesystem::path(tokenizer_json).parent_path() / "tokenizer_config.json";
  return vocabulary_from_hf_tokenizer(tokenizer_json, std::filesystem::exists(config) ? config.string() : "");
}

// A model's embedding may have more rows than the tokenizer has tokens (Qwen pads to a
// multiple of 128): the converter fills them with unused "[PAD<id>]" tokens.
void pad_vocabulary(Vocabulary& v, int vocab_size) {
  if (v.pieces.size() > static_cast<std::size_t>(vocab_size))
    throw UsageError("the tokenizer has " + std::to_string(v.pieces.size()) + " tokens, more than the model's " +
                     std::to_string(vocab_size));
  for (std::size_t id = v.pieces.size(); id < static_cast<std::size_t>(vocab_size); ++id) {
    v.pieces.push_back("[PAD" + std::to_string(id) + "]");
    v.scores.push_back(0.0f);
    v.token_types.push_back(kTokenUnused);
  }
}

}  // namespace

int convert_command(int argc, char** argv) {
  CLI::App app{
      "llama2 convert: convert a model between llama2.c checkpoints and GGUF.\n"
      "  llama2 convert IN OUT.gguf [--type T] [-z tokenizer.bin]   (llama2.c or GGUF -> GGUF)\n"
      "  llama2 convert IN OUT.bin [--tokenizer-out tokenizer.bin]  (any model -> llama2.c v0, fp32)\n"
      "  llama2 convert --random-shape tinyllama --type q4_k OUT.gguf  (random weights, for benchmarks)"};
  app.name("llama2 convert");
  std::vector<std::string> files;
  std::string type_name = "f32", tokenizer_path, tokenizer_out, name, random_shape;
  std::vector<std::string> tensor_type_specs;
  std::uint64_t seed = 42;
  app.add_option("files", files, "IN OUT (OUT only with --random-shape)")->required()->expected(1, 2);
  app.add_option("--type", type_name, "GGUF weight type")
      ->capture_default_str()
      ->check(CLI::IsMember(writable_type_names(/*with_f32=*/true)));
  app.add_option("--tensor-type", tensor_type_specs,
                 "GGUF output: PATTERN=TYPE stores the matrices whose names match the regular expression "
                 "in TYPE instead (e.g. attn_v=f32, blk\\.0\\.=q8_0); repeatable, first match wins")
      ->allow_extra_args(false);  // one rule per --tensor-type, so IN OUT after it stay positionals
  app.add_option("-z,--tokenizer", tokenizer_path, "llama2.c tokenizer.bin to embed in the GGUF file");
  std::string hf_tokenizer;
  app.add_option("--hf-tokenizer", hf_tokenizer,
                 "Hugging Face tokenizer.json (byte-level BPE: Llama 3, Qwen, SmolLM) to embed in the GGUF file; "
                 "tokenizer_config.json beside it gives BOS/EOS and the chat template")
      ->excludes("-z");
  app.add_option("--tokenizer-out", tokenizer_out, "also write the model's vocabulary as a llama2.c tokenizer.bin");
  app.add_option("--name", name, "general.name of the GGUF file (default: the input's file name)");
  std::string shapes;
  for (const std::string& n : gguf_random_shape_names()) shapes += (shapes.empty() ? "" : ", ") + n;
  app.add_option("--random-shape", random_shape, "write random weights of this shape instead (" + shapes + ")");
  app.add_option("--seed", seed, "seed of the random weights")->capture_default_str();
  if (auto status = parse(app, argc, argv)) return *status;

  const DType type = parse_weight_type(type_name, "--type");
  const auto tensor_types = parse_tensor_type_rules(tensor_type_specs);
  const bool type_given = app.get_option("--type")->count() > 0;
  const auto start = std::chrono::steady_clock::now();

  if (!random_shape.empty()) {
    if (files.size() != 1) throw UsageError("--random-shape takes only OUT");
    if (!tensor_types.empty()) throw UsageError("--tensor-type applies to converting a model, not --random-shape");
    const std::string& out = files[0];
    if (!ends_with_gguf(out)) throw UsageError("--random-shape writes GGUF: OUT must end in .gguf");
    RandomShape shape = gguf_random_shape(random_shape);
    Config& c = shape.config;
    std::optional<Vocabulary> vocabulary;
    if (!tokenizer_path.empty()) vocabulary = vocabulary_from_tokenizer(Tokenizer::load(tokenizer_path, c.vocab_size));
    if (!hf_tokenizer.empty()) {
      vocabulary = read_hf_vocabulary(hf_tokenizer);
      if (random_shape.starts_with("micro")) c.vocab_size = static_cast<int>(vocabulary->pieces.size());  // a test shape
      pad_vocabulary(*vocabulary, c.vocab_size);
    }
    print_notes(write_random_gguf(out, c, type, seed, vocabulary ? &*vocabulary : nullptr, shape.tied_classifier,
                                  shape.rope_freqs));
  } else {
    if (files.size() != 2) throw UsageError("convert needs IN and OUT");
    const std::string &in = files[0], &out = files[1];
    const auto model = Model::load(in);
    check_tensor_type_rules(*model, tensor_types);
    const int vocab_size = model->config().vocab_size;
    std::optional<Vocabulary> vocabulary = model->vocabulary();
    if (!hf_tokenizer.empty()) {
      vocabulary = read_hf_vocabulary(hf_tokenizer);
      pad_vocabulary(*vocabulary, vocab_size);
    }
    if (!tokenizer_path.empty()) {
      vocabulary = vocabulary_from_tokenizer(Tokenizer::load(tokenizer_path, vocab_size));
      // Keep the input's chat template when only the pieces come from tokenizer.bin.
      if (model->vocabulary()) vocabulary->chat_template = model->vocabulary()->chat_template;
    }
    if (!tokenizer_out.empty()) {
      if (!vocabulary) throw UsageError("--tokenizer-out: the input has no vocabulary (give -z)");
      write_tokenizer_bin(*vocabulary, tokenizer_out);
    }
    if (ends_with_gguf(out)) {
      if (!vocabulary)
        std::fprintf(stderr, "warning: no vocabulary embedded (give -z tokenizer.bin); run it with -z or --ids\n");
      GgufExportOptions options;
      options.type = type;
      options.tensor_types = tensor_types;
      options.name = name.empty() ? in.substr(in.find_last_of('/') + 1) : name;
      options.vocabulary = vocabulary ? &*vocabulary : nullptr;
      print_notes(write_gguf_model(*model, out, options));
    } else {
      if (type_given && type != DType::F32) throw UsageError("llama2.c output is fp32 only: --type must be f32");
      if (!tensor_types.empty()) throw UsageError("--tensor-type applies to GGUF output only");
      write_llama2c_v0(*model, out);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string& out = files.back();
  drop_from_page_cache(out);  // so it is read back in 2 MB pages (see mapped_file.hpp)
  std::fprintf(stderr, "wrote %s (%llu bytes) in %.1f s\n", out.c_str(),
               static_cast<unsigned long long>(file_size(out)), seconds);
  return 0;
}

}  // namespace llama2::cli
