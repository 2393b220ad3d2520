// AVX-512 forward gate pass of the fused GRU (float, H a multiple of 16), picked at run
// time by kernels::fwd_rows where the CPU has AVX-512F. Same arithmetic as fwd_row in
// gru_steps.h (the Cephes exp polynomial of fastmath.h), written with intrinsics so that
// the rounding of x / ln 2 and the scaling by 2^n are one instruction each (vrndscaleps,
// vscalefps), faster than the compiler's vectorization of the portable loop (the measured
// figure is in docs/performance.md).
// NaN propagates: every clamp keeps x as its second operand, which min/max return when
// either operand is NaN.
#pragma once

#include <cstdint>

#if defined(__GNUC__) && defined(__x86_64__)
#define SEQKIT_AVX512_GATES 1
#include <immintrin.h>

// GCC 12 reports the intrinsics' own undefined-vector idiom as maybe-uninitialized
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace seqkit {
namespace kernels {
namespace avx512 {

#define SEQKIT_AVX512_FN __attribute__((target("avx512f"))) inline
#define SEQKIT_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

// exp(x) for 16 floats: fastmath::exp_f with vrndscaleps and vscalefps
SEQKIT_AVX512_INLINE __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(88.3f), x);
  x = _mm512_max_ps(_mm512_set1_ps(-87.3f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// 1 / (1 + exp(-x))
SEQKIT_AVX512_INLINE __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// 2 / (1 + exp(-2x)) - 1
SEQKIT_AVX512_INLINE __m512 tanh16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp16(_mm512_mul_ps(_mm512_set1_ps(-2.0f), x));
  return _mm512_sub_ps(_mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, e)), one);
}

// fwd_rows_impl<float> (gru_steps.h) for H % 16 == 0
SEQKIT_AVX512_FN void fwd_rows(int64_t b0, int64_t b1, int64_t H, int64_t off, const float* gi,
                               const int64_t* idx, const float* gh, const float* bhn, float* hbuf,
                               float* gates, float* hprev, float* out) {
  const int64_t G = 3 * H;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = off + b;
    const float* xi = idx ? gi + idx[row] * G : gi + row * G;
    const float* hh = gh + b * G;
    float* hp = hbuf + b * H;
    float* ws = gates + row * 4 * H;
    float* hpo = hprev + row * H;
    float* o = out + row * H;
    for (int64_t j = 0; j < H; j += 16) {
      const __m512 hn = _mm512_add_ps(_mm512_loadu_ps(hh + 2 * H + j), _mm512_loadu_ps(bhn + j));
      const __m512 r = sigmoid16(_mm512_add_ps(_mm512_loadu_ps(xi + j), _mm512_loadu_ps(hh + j)));
      const __m512 z = sigmoid16(_mm512_add_ps(_mm512_loadu_ps(xi + H + j), _mm512_loadu_ps(hh + H + j)));
      const __m512 n = tanh16(_mm512_fmadd_ps(r, hn, _mm512_loadu_ps(xi + 2 * H + j)));
      const __m512 h = _mm512_loadu_ps(hp + j);
      const __m512 hnew = _mm512_fmadd_ps(z, _mm512_sub_ps(h, n), n);  // n + z * (h - n)
      _mm512_storeu_ps(ws + j, r);
      _mm512_storeu_ps(ws + H + j, z);
      _mm512_storeu_ps(ws + 2 * H + j, n);
      _mm512_storeu_ps(ws + 3 * H + j, hn);
      _mm512_storeu_ps(hpo + j, h);
      _mm512_storeu_ps(o + j, hnew);
      _mm512_storeu_ps(hp + j, hnew);
    }
  }
}

// Whether this CPU runs the AVX-512 path (checked once).
inline bool available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

#undef SEQKIT_AVX512_FN
#undef SEQKIT_AVX512_INLINE

}  // namespace avx512
}  // namespace kernels
}  // namespace seqkit

#pragma GCC diagnostic pop
#endif
