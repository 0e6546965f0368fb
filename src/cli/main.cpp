// ============================================================================
// llama2: the command-line front end. Dispatches to a subcommand; turns errors into one
// line on stderr and an exit status (1: bad input, 2: bad usage).
// ============================================================================
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string_view>

#include "cli/commands.hpp"
#include "core/error.hpp"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(int, char**);
};

constexpr Subcommand kSubcommands[] = {
    {"tokenize", llama2::cli::tokenize_command},
    {"convert", llama2::cli::convert_command},
    {"serve", llama2::cli::serve_command},
    {"bench", llama2::cli::bench_command},
    {"quantize", llama2::cli::quantize_command},
    {"perplexity", llama2::cli::perplexity_command},
};

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 2) {
      for (const Subcommand& s : kSubcommands)
        if (std::strcmp(argv[1], s.name) == 0) return s.run(argc - 1, argv + 1);
    }
    return llama2::cli::run_command(argc, argv);
  } catch (const llama2::UsageError& e) {
    std::fprintf(stderr, "error: %s (see --help)\n", e.what());
    return 2;
  } catch (const llama2::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
