/* Symbol visibility of the embeddable library (libllama2): the shared library is built with
 * hidden visibility, so only what carries LLAMA2_API is part of its ABI. Plain C, because
 * both llama2.h and llama2/engine.hpp use it. */
#ifndef LLAMA2_EXPORT_H
#define LLAMA2_EXPORT_H

#if defined(LLAMA2_BUILDING_LIBRARY)
#define LLAMA2_API __attribute__((visibility("default")))
#else
#define LLAMA2_API
#endif

#endif /* LLAMA2_EXPORT_H */
