// Loops over raw buffers that the fused GRU's CPU launcher needs besides its step kernels
// (torch-free): whether a state buffer is all zeros, and a cache-friendly transpose.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "clones.h"

namespace seqkit {
namespace kernels {

// Whether every element of a contiguous float (zero_bits32) or double (zero_bits64) buffer
// of n elements is zero (-0.0 too; NaN is not): an OR of the bits below the sign over
// blocks of 4096 elements (a loop the compiler vectorizes), leaving at the first block
// with a nonzero element.
template <typename U>
SEQKIT_INLINE bool zero_bits_impl(const void* data, int64_t n) {
  constexpr U kMagnitude = ~(U(1) << (8 * sizeof(U) - 1));
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (int64_t i = 0; i < n; i += 4096) {
    U any = 0;
    for (int64_t j = i, e = std::min(n, i + 4096); j < e; ++j) {
      U u;
      std::memcpy(&u, p + j * sizeof(U), sizeof u);
      any |= u & kMagnitude;
    }
    if (any != 0) return false;
  }
  return true;
}
SEQKIT_CLONES static bool zero_bits32(const void* p, int64_t n) { return zero_bits_impl<uint32_t>(p, n); }
SEQKIT_CLONES static bool zero_bits64(const void* p, int64_t n) { return zero_bits_impl<uint64_t>(p, n); }

// dst[c, r] = f(src[r, c], r) for src [R, C] (a transpose), in tiles of 16 columns: each
// row of src is read 16 entries at a time and the 16 rows of dst being written stay in
// cache across the rows of src (a plain loop strides through dst and misses the cache).
template <typename S, typename D, typename F>
static void transpose_tiled(const S* src, int64_t R, int64_t C, D* dst, const F& f) {
  constexpr int64_t kTile = 16;
  for (int64_t c0 = 0; c0 < C; c0 += kTile) {
    const int64_t c1 = std::min(C, c0 + kTile);
    for (int64_t r = 0; r < R; ++r) {
      const S* row = src + r * C;
      for (int64_t c = c0; c < c1; ++c) dst[c * R + r] = f(row[c], r);
    }
  }
}

}  // namespace kernels
}  // namespace seqkit
