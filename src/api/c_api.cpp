// The C API (include/llama2.h) over llama2::Engine. Every entry point catches everything:
// a C caller cannot handle a C++ exception, so each failure becomes a status and a message.
#include "llama2.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "llama2/engine.hpp"

struct llama2_engine {
  explicit llama2_engine(llama2::Engine e) : engine(std::move(e)) {}
  llama2::Engine engine;
  std::string last_error;
};

namespace {

// Failures with no engine to keep them (opening, NULL engine), per thread like errno.
thread_local std::string engineless_error;

std::string& error_slot(llama2_engine* engine) { return engine ? engine->last_error : engineless_error; }

int fail(llama2_engine* engine, int status, const char* message) {
  // Assigning may itself throw bad_alloc; a lost message beats an exception escaping into C.
  try {
    error_slot(engine) = message;
  } catch (...) {
  }
  return status;
}

// Runs `body` (which returns a status), turning any exception into a status and a message.
template <class Body>
int guarded(llama2_engine* engine, Body&& body) {
  try {
    error_slot(engine).clear();
    return body();
  } catch (const std::bad_alloc&) {
    return fail(engine, LLAMA2_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(engine, LLAMA2_ERROR_FAILED, e.what());
  } catch (...) {
    return fail(engine, LLAMA2_ERROR_FAILED, "unknown error");
  }
}

void copy_message(const std::string& message, char* out, std::size_t capacity) {
  if (!out || capacity == 0) return;
  const std::size_t n = std::min(message.size(), capacity - 1);
  std::memcpy(out, message.data(), n);
  out[n] = '\0';
}

}  // namespace

extern "C" {

llama2_engine* llama2_engine_open(const char* model_path, const char* tokenizer_path, int threads, char* err,
                                  std::size_t errlen) {
  llama2_engine* opened = nullptr;
  const int status = guarded(nullptr, [&]() -> int {
    if (!model_path) return fail(nullptr, LLAMA2_ERROR_INVALID_ARGUMENT, "model path is NULL");
    opened = new llama2_engine(llama2::Engine(model_path, tokenizer_path ? tokenizer_path : "", threads));
    return LLAMA2_OK;
  });
  copy_message(status == LLAMA2_OK ? std::string() : engineless_error, err, errlen);
  return opened;
}

void llama2_engine_free(llama2_engine* engine) { delete engine; }

const char* llama2_last_error(const llama2_engine* engine) {
  return engine ? engine->last_error.c_str() : engineless_error.c_str();
}

int llama2_vocab_size(const llama2_engine* engine) {
  return engine ? engine->engine.vocab_size() : LLAMA2_ERROR_INVALID_ARGUMENT;
}

int llama2_context_length(const llama2_engine* engine) {
  return engine ? engine->engine.context_length() : LLAMA2_ERROR_INVALID_ARGUMENT;
}

int llama2_tokenize(llama2_engine* engine, const char* text, std::size_t text_len, int add_bos, int32_t* ids,
                    std::size_t capacity, std::size_t* n_ids) {
  if (!engine) return fail(nullptr, LLAMA2_ERROR_INVALID_ARGUMENT, "engine is NULL");
  return guarded(engine, [&]() -> int {
    if (!text && text_len > 0) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "text is NULL");
    if (!n_ids) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "n_ids is NULL");
    if (!ids && capacity > 0) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "ids is NULL");
    const auto tokens = engine->engine.tokenize(std::string_view(text ? text : "", text_len), add_bos != 0);
    *n_ids = tokens.size();
    if (tokens.size() > capacity)
      return fail(engine, LLAMA2_ERROR_BUFFER_TOO_SMALL,
                  ("ids buffer too small: " + std::to_string(tokens.size()) + " ids needed").c_str());
    std::copy(tokens.begin(), tokens.end(), ids);
    return LLAMA2_OK;
  });
}

int llama2_detokenize(llama2_engine* engine, const int32_t* ids, std::size_t n, char* text, std::size_t capacity,
                      std::size_t* text_len) {
  if (!engine) return fail(nullptr, LLAMA2_ERROR_INVALID_ARGUMENT, "engine is NULL");
  return guarded(engine, [&]() -> int {
    if (!ids && n > 0) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "ids is NULL");
    if (!text_len) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "text_len is NULL");
    if (!text && capacity > 0) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "text is NULL");
    const int vocab = engine->engine.vocab_size();
    for (std::size_t i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= vocab)
        return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT,
                    ("token id " + std::to_string(ids[i]) + " is outside the vocabulary").c_str());
    const std::string decoded = engine->engine.detokenize(std::span<const llama2::TokenId>(ids, n));
    *text_len = decoded.size();
    if (decoded.size() >= capacity) {
      if (capacity > 0) text[0] = '\0';
      return fail(engine, LLAMA2_ERROR_BUFFER_TOO_SMALL,
                  ("text buffer too small: " + std::to_string(decoded.size() + 1) + " bytes needed").c_str());
    }
    std::memcpy(text, decoded.c_str(), decoded.size() + 1);
    return LLAMA2_OK;
  });
}

llama2_generate_options llama2_default_generate_options(void) {
  const llama2::GenerateOptions defaults;
  return {defaults.steps, defaults.temperature, defaults.topp, defaults.seed};
}

int llama2_generate(llama2_engine* engine, const char* prompt, const llama2_generate_options* options,
                    llama2_piece_callback on_piece, void* user, std::size_t* n_tokens) {
  if (!engine) return fail(nullptr, LLAMA2_ERROR_INVALID_ARGUMENT, "engine is NULL");
  return guarded(engine, [&]() -> int {
    if (!prompt) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "prompt is NULL");
    const llama2_generate_options o = options ? *options : llama2_default_generate_options();
    if (o.steps < 0) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "steps must be >= 0");
    if (!(o.temperature >= 0.0f)) return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "temperature must be >= 0");
    if (!(o.topp >= 0.0f && o.topp <= 1.0f))
      return fail(engine, LLAMA2_ERROR_INVALID_ARGUMENT, "topp must be in [0, 1]");
    llama2::PieceCallback forward;
    if (on_piece)
      forward = [&](std::string_view piece) { return on_piece(piece.data(), piece.size(), user) != 0; };
    const llama2::Generation result =
        engine->engine.generate(prompt, {o.steps, o.temperature, o.topp, o.seed}, forward);
    if (n_tokens) *n_tokens = result.tokens.size();
    return LLAMA2_OK;
  });
}

}  // extern "C"
