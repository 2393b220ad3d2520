// Dropout masks from a counter-based generator (torch-free). Element i of the mask for
// seed s is keep * 1/(1-p) or 0, from the top 32 bits of splitmix64(m(s) + i * golden), m(s)
// the seed mixed once (so nearby seeds give unrelated masks): every
// element is an independent function of (seed, i), so the loop vectorizes and the mask does
// not depend on the thread count. splitmix64 (Steele, Lea, Flood 2014) passes BigCrush as
// a counter-based generator; a mask needs a fair coin per element, not cryptography.
//
// Why not torch's bernoulli_: on the CPU it costs 100-150 us for the 4-16k elements of a
// small model's masks (mostly fixed cost), about 7% of a fused training step on the
// default classifier (measured in docs/performance.md).
#pragma once

#include <cstdint>

#include "clones.h"

namespace seqkit {
namespace kernels {

SEQKIT_INLINE uint64_t splitmix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// out[i] = scale where element i is kept (probability 1 - p, as a 32-bit threshold), else 0.
template <typename T>
SEQKIT_INLINE void dropout_mask_impl(T* __restrict out, int64_t n, uint32_t drop_below, T scale, uint64_t seed) {
  const uint64_t base = splitmix64(seed);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(splitmix64(base + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL) >> 32);
    out[i] = u >= drop_below ? scale : T(0);
  }
}
SEQKIT_CLONES static void dropout_mask(float* out, int64_t n, uint32_t drop_below, float scale, uint64_t seed) {
  dropout_mask_impl<float>(out, n, drop_below, scale, seed);
}
SEQKIT_CLONES static void dropout_mask(double* out, int64_t n, uint32_t drop_below, double scale, uint64_t seed) {
  dropout_mask_impl<double>(out, n, drop_below, scale, seed);
}

}  // namespace kernels
}  // namespace seqkit
