// The `llama2` command's subcommands. Each takes the arguments after its name and returns
// the process exit status; errors propagate as llama2::Error / UsageError to main().
#pragma once

namespace llama2::cli {

int run_command(int argc, char** argv);       // llama2 <checkpoint> [run.c flags]
int tokenize_command(int argc, char** argv);  // llama2 tokenize -z tokenizer.bin < text

}  // namespace llama2::cli
