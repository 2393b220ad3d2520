// Branch-free exp / sigmoid / tanh that GCC vectorizes (Cephes expf polynomial, about
// 1 ulp for exp; tanh has an absolute error of about 1e-7 near 0). float only; double
// uses the C library (it serves gradcheck, not speed).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace seqkit {
namespace fastmath {

__attribute__((always_inline)) inline float exp_f(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  // n = round(x / ln2) with the 1.5*2^23 trick (no SSE4.1 rounding needed)
  const float magic = 12582912.0f;
  float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

__attribute__((always_inline)) inline float sigmoid(float x) { return 1.0f / (1.0f + exp_f(-x)); }
__attribute__((always_inline)) inline float tanh(float x) { return 2.0f / (1.0f + exp_f(-2.0f * x)) - 1.0f; }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh(double x) { return std::tanh(x); }

}  // namespace fastmath
}  // namespace seqkit
