// The `llama2` command's subcommands. Each takes the arguments after its name and returns
// the process exit status; errors propagate as llama2::Error / UsageError to main().
#pragma once

namespace llama2::cli {

int run_command(int argc, char** argv);       // llama2 <checkpoint> [run.c flags]
int tokenize_command(int argc, char** argv);  // llama2 tokenize -z tokenizer.bin < text
int convert_command(int argc, char** argv);   // llama2 convert IN OUT [--type ...]
int serve_command(int argc, char** argv);     // llama2 serve MODEL [--port ...]: OpenAI-compatible server
int bench_command(int argc, char** argv);     // llama2 bench [-m MODEL]... [--shape 15M]... [-t 1,2]
int quantize_command(int argc, char** argv);    // llama2 quantize IN OUT --type q8_0|q4_0|...
int perplexity_command(int argc, char** argv);  // llama2 perplexity MODEL (-f text | --ids-file ids)

}  // namespace llama2::cli
