// The Python module `llama2`: llama2::Engine with Python types. Errors surface as
// RuntimeError (pybind11 translates std::runtime_error, which llama2::Error is).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "llama2/engine.hpp"

namespace py = pybind11;

namespace {

// Pieces and decodings are bytes that need not be valid UTF-8 (a byte-fallback token is one
// byte of a character); a str with U+FFFD beats a UnicodeDecodeError in the middle of a story.
py::str to_str(std::string_view bytes) {
  PyObject* decoded = PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace");
  if (!decoded) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

llama2::Generation run(llama2::Engine& engine, const std::string& prompt, int steps, float temperature, float topp,
                     std::uint64_t seed, const std::optional<py::function>& callback) {
  llama2::PieceCallback on_piece;
  if (callback) {
    on_piece = [&](std::string_view piece) {
      // The model runs without the GIL; the callback needs it back.
      py::gil_scoped_acquire gil;
      const py::object keep_going = (*callback)(to_str(piece));
      return keep_going.is_none() || keep_going.cast<bool>();  // None (no return) goes on
    };
  }
  llama2::Generation result;
  {
    py::gil_scoped_release no_gil;
    result = engine.generate(prompt, {steps, temperature, topp, seed}, on_piece);
  }
  return result;
}

std::string generate(llama2::Engine& engine, const std::string& prompt, int steps, float temperature, float topp,
                     std::uint64_t seed, const std::optional<py::function>& callback) {
  return run(engine, prompt, steps, temperature, topp, seed, callback).text;
}

std::vector<llama2::TokenId> generate_tokens(llama2::Engine& engine, const std::string& prompt, int steps,
                                             float temperature, float topp, std::uint64_t seed,
                                             const std::optional<py::function>& callback) {
  return run(engine, prompt, steps, temperature, topp, seed, callback).tokens;
}

}  // namespace

PYBIND11_MODULE(llama2, m) {
  m.doc() = "llama2-cpp: run Llama-family models (llama2.c .bin or GGUF) from Python";
  const llama2::GenerateOptions defaults;
  py::class_<llama2::Engine>(m, "Engine")
      .def(py::init([](const std::string& model, const std::optional<std::string>& tokenizer, int threads) {
             py::gil_scoped_release no_gil;  // loading maps the file and builds the tokenizer
             return llama2::Engine(model, tokenizer.value_or(""), threads);
           }),
           py::arg("model"), py::arg("tokenizer") = py::none(), py::arg("threads") = 0,
           "Opens a model; tokenizer None uses the model's own vocabulary (GGUF); threads 0 = one per core.")
      .def("tokenize", &llama2::Engine::tokenize, py::arg("text"), py::arg("bos") = true, py::arg("eos") = false,
           "Token ids of text (BOS first unless bos=False).")
      .def(
          "detokenize",
          [](const llama2::Engine& engine, const std::vector<llama2::TokenId>& ids) {
            return to_str(engine.detokenize(ids));
          },
          py::arg("ids"), "The text of token ids.")
      .def("generate", &generate, py::arg("prompt"), py::arg("steps") = defaults.steps,
           py::arg("temperature") = defaults.temperature, py::arg("topp") = defaults.topp,
           py::arg("seed") = defaults.seed, py::arg("callback") = py::none(),
           "Generates from prompt and returns the text (prompt included, as the CLI prints it). "
           "callback(piece) is called per piece; returning False stops.")
      .def("generate_tokens", &generate_tokens, py::arg("prompt"), py::arg("steps") = defaults.steps,
           py::arg("temperature") = defaults.temperature, py::arg("topp") = defaults.topp,
           py::arg("seed") = defaults.seed, py::arg("callback") = py::none(),
           "As generate(), but returns the token ids: the prompt's (BOS first), then the generated ones.")
      .def_property_readonly("vocab_size", &llama2::Engine::vocab_size)
      .def_property_readonly("context_length", &llama2::Engine::context_length)
      .def_property_readonly("threads", &llama2::Engine::threads);
}
