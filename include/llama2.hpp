// llama2-cpp's public API: everything an embedding program needs, nothing of the CLI.
//
//   Model::load(path)            a checkpoint, memory-mapped (weights are views, not copies)
//   Tokenizer::load(path, n)     text <-> token ids
//   State(config, n_positions)   one sequence's KV cache and activations
//   Sampler(vocab, settings)     greedy / temperature / top-p, seeded like llama2.c
//   generate(...), chat(...)     the loops, streaming tokens to a callback
//   forward(model, state, token, pos, pool)   one step, for custom loops
#pragma once

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "generation/chat.hpp"
#include "generation/generate.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "tokenizer/tokenizer.hpp"
#include "transformer/state.hpp"
#include "transformer/transformer.hpp"
