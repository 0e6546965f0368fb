/* Prints a story through the C API, as `llama2 <model> -z <tokenizer> -t 0 -n 64 -i <prompt>` does.
 *   consumer_c <model> <tokenizer> [prompt] */
#include <stdio.h>

#include <llama2.h>

static int print_piece(const char* piece, size_t len, void* user) {
  (void)user;
  fwrite(piece, 1, len, stdout);
  return 1; /* go on */
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: consumer_c <model> <tokenizer> [prompt]\n");
    return 2;
  }
  char err[512];
  llama2_engine* engine = llama2_engine_open(argv[1], argv[2], 1, err, sizeof err);
  if (!engine) {
    fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  llama2_generate_options options = llama2_default_generate_options();
  options.steps = 64;
  options.temperature = 0.0f;
  const char* prompt = argc > 3 ? argv[3] : "Once upon a time";
  const int status = llama2_generate(engine, prompt, &options, print_piece, NULL, NULL);
  if (status != LLAMA2_OK) fprintf(stderr, "error: %s\n", llama2_last_error(engine));
  else printf("\n");
  llama2_engine_free(engine);
  return status == LLAMA2_OK ? 0 : 1;
}
