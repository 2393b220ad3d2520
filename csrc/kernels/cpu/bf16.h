// float <-> bfloat16 conversions of the fused GRU's mixed-precision path (torch-free;
// bfloat16 values as their uint16_t bits). Plain loops (round to nearest even, as torch),
// not ATen copies, whose dispatch would cost more than the conversion of a step's few
// thousand values.
#pragma once

#include <cstdint>
#include <cstring>

#include "clones.h"

namespace seqkit {
namespace kernels {

// dst[i] = bfloat16(src[i])
SEQKIT_CLONES static void to_bf16(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, sizeof u);
    // NaN stays NaN (quiet); others round to nearest even
    dst[i] = (u & 0x7fffffffu) > 0x7f800000u ? uint16_t((u >> 16) | 0x40u)
                                             : uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
}
// dst[i] (+)= float(src[i])
template <bool kAdd>
SEQKIT_INLINE void from_bf16_impl(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(src[i]) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    dst[i] = kAdd ? dst[i] + f : f;
  }
}
SEQKIT_CLONES static void from_bf16(const uint16_t* src, float* dst, int64_t n) {
  from_bf16_impl<false>(src, dst, n);
}
SEQKIT_CLONES static void add_from_bf16(const uint16_t* src, float* dst, int64_t n) {
  from_bf16_impl<true>(src, dst, n);
}

}  // namespace kernels
}  // namespace seqkit
