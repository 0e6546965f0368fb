/* llama2-cpp's C API: open a model, tokenize, generate with a callback per piece of text.
 *
 * Conventions: every function that can fail returns an int status, LLAMA2_OK (0) or one of
 * the negative LLAMA2_ERROR_* codes, and never lets a C++ exception out. The message of the
 * last failure on an engine is llama2_last_error(engine); failures with no engine (opening
 * one, a NULL engine) leave theirs in llama2_last_error(NULL), per thread.
 * Strings are UTF-8; lengths are in bytes. An engine runs one call at a time. */
#ifndef LLAMA2_H
#define LLAMA2_H

#include <stddef.h>
#include <stdint.h>

#include "llama2/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llama2_engine llama2_engine;

enum llama2_status {
  LLAMA2_OK = 0,
  LLAMA2_ERROR_INVALID_ARGUMENT = -1, /* NULL pointer, bad option, id outside the vocabulary */
  LLAMA2_ERROR_BUFFER_TOO_SMALL = -2, /* the size needed is in the out-parameter */
  LLAMA2_ERROR_FAILED = -3,           /* the model, tokenizer or generation failed (see message) */
  LLAMA2_ERROR_OUT_OF_MEMORY = -4
};

/* Opens a llama2.c .bin (versions 0-2) or GGUF model. tokenizer_path NULL or "": the model's
 * own vocabulary (GGUF). threads <= 0: one per core. On failure returns NULL and, if err is
 * not NULL and errlen > 0, writes the NUL-terminated (possibly truncated) message there
 * (on success, ""). */
LLAMA2_API llama2_engine* llama2_engine_open(const char* model_path, const char* tokenizer_path, int threads,
                                             char* err, size_t errlen);
/* Frees an engine; NULL is ignored. */
LLAMA2_API void llama2_engine_free(llama2_engine* engine);

/* The message of the last failed call on `engine` ("" if none); with NULL, the calling
 * thread's last failure that had no engine. Valid until the next call on that engine. */
LLAMA2_API const char* llama2_last_error(const llama2_engine* engine);

/* The vocabulary size and the context length (most positions per generation); < 0 on a NULL engine. */
LLAMA2_API int llama2_vocab_size(const llama2_engine* engine);
LLAMA2_API int llama2_context_length(const llama2_engine* engine);

/* Encodes text_len bytes of `text` (BOS first if add_bos) into `ids`. *n_ids receives the
 * number of ids, also when the buffer is too small (then nothing is written and the result
 * is LLAMA2_ERROR_BUFFER_TOO_SMALL): call with ids NULL and capacity 0 to ask the size. */
LLAMA2_API int llama2_tokenize(llama2_engine* engine, const char* text, size_t text_len, int add_bos,
                               int32_t* ids, size_t capacity, size_t* n_ids);

/* Decodes n ids into `text` as a NUL-terminated string. *text_len receives its length without
 * the NUL, also when capacity (which counts the NUL) is too small: then the result is
 * LLAMA2_ERROR_BUFFER_TOO_SMALL and text, if capacity > 0, holds "". */
LLAMA2_API int llama2_detokenize(llama2_engine* engine, const int32_t* ids, size_t n, char* text, size_t capacity,
                                 size_t* text_len);

/* Called with each printable piece (not NUL-terminated); return nonzero to go on, 0 to stop. */
typedef int (*llama2_piece_callback)(const char* piece, size_t len, void* user);

typedef struct llama2_generate_options {
  int steps;           /* positions, prompt included; 0 = the model's context */
  float temperature;   /* 0 = greedy */
  float topp;          /* nucleus mass; 0 or 1 = off */
  uint64_t seed;       /* 0 = from the clock */
} llama2_generate_options;

/* The CLI's defaults: 256 steps, temperature 1, top-p 0.9, seed from the clock. */
LLAMA2_API llama2_generate_options llama2_default_generate_options(void);

/* Generates from `prompt` (NUL-terminated; BOS is added). options NULL: the defaults.
 * on_piece may be NULL. *n_tokens (if not NULL) receives the sequence length, prompt
 * included, also when the callback stopped the run. */
LLAMA2_API int llama2_generate(llama2_engine* engine, const char* prompt, const llama2_generate_options* options,
                               llama2_piece_callback on_piece, void* user, size_t* n_tokens);

#ifdef __cplusplus
}
#endif

#endif /* LLAMA2_H */
