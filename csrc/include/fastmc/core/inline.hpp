// Inlining control. The bindings instantiate every kernel for every target type in one
// translation unit, and GCC's inlining budget then runs out inside the sampler loops (a sampler
// loop that grows stops inlining its per-step helpers); the per-step helpers are forced inline.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define FASTMC_INLINE inline __attribute__((always_inline))
#else
#define FASTMC_INLINE inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FASTMC_LAMBDA_INLINE __attribute__((always_inline))
#else
#define FASTMC_LAMBDA_INLINE
#endif
