// libFuzzer target for the model loader: the input is a whole model file. Loading must end in
// a Model or a clean llama2::Error; a Model that loads must survive one forward step and one
// sampled token (its tensors must really lie inside the file, whatever the header said).
//
// Model::load takes a path (the Model owns its mapping), so the input goes into an in-memory
// file (memfd) that is opened through /proc/self/fd: no disk traffic per run, and the mmap
// path is exercised exactly as the CLI uses it.
//
// Seed corpus: fuzz/corpus/fuzz_checkpoint/, written by fuzz/make_checkpoint_corpus.py.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "transformer/state.hpp"
#include "transformer/transformer.hpp"

namespace {

// Above this a forward step could take long enough to slow the fuzzer down; libFuzzer's
// default max_len (4 KB) keeps inputs far below it anyway.
constexpr std::size_t kForwardFileLimit = 1 << 20;

// The memfd lives for the whole fuzzing process and is rewritten per input.
struct ScratchFile {
  int fd = -1;
  std::string path;
};

const ScratchFile& scratch_file() {
  static const ScratchFile file = [] {
    ScratchFile f;
    f.fd = ::memfd_create("fuzz_checkpoint", MFD_CLOEXEC);
    if (f.fd < 0) {
      std::perror("fuzz_checkpoint: memfd_create");
      std::abort();
    }
    f.path = "/proc/self/fd/" + std::to_string(f.fd);
    return f;
  }();
  return file;
}

void write_all(int fd, const std::uint8_t* data, std::size_t size) {
  if (::ftruncate(fd, 0) != 0) std::abort();
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) std::abort();
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ScratchFile& file = scratch_file();
  write_all(file.fd, data, size);

  std::shared_ptr<const llama2::Model> model;
  try {
    model = llama2::Model::load(file.path);
  } catch (const llama2::Error&) {
    return 0;  // a clean rejection is the right outcome for a malformed file
  }
  if (size > kForwardFileLimit) return 0;

  // One position reads every matrix in full (and one embedding row); a one-position State
  // also keeps a huge seq_len, which only the header bounds, from costing memory.
  static llama2::ThreadPool pool(1);
  llama2::State state(model->config(), 1);
  llama2::forward(*model, state, llama2::kBosToken % model->config().vocab_size, 0, pool);
  // Weights may be NaN or infinite; sampling must still return an id inside the vocab.
  llama2::Sampler sampler(model->config().vocab_size, {1.0f, 0.9f, 42});
  const llama2::TokenId next = sampler.sample(state.logits);
  if (next < 0 || next >= model->config().vocab_size) {
    std::fprintf(stderr, "fuzz_checkpoint: sampled id %d outside the vocab of %d\n", next,
                 model->config().vocab_size);
    std::abort();
  }
  return 0;
}
