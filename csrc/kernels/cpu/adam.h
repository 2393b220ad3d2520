// The Adam / AdamW update and the gradient-norm loops of seqkit::adam_step_ (torch-free:
// raw pointers and sizes; the launcher csrc/torch/adam_step.cpp includes this header into
// its translation unit).
//
// Numerics:
// - The update is that of torch's fused CPU kernel (aten/src/ATen/native/cpu/
//   FusedAdamKernel.cpp, float and double) on its vector path: the coefficients computed
//   in double and rounded once, the same operations in the same order, with fused
//   multiply-adds where that path has them (the lerp, and exp_avg_sq * beta2 +
//   (c2 * grad) * grad, which torch's build contracts). Where torch's kernel takes its
//   vector path (each thread's share a multiple of the vector width) the results are bit
//   for bit torch's (tested); the scalar remainders of torch's kernel round exp_avg_sq's
//   update in a position-dependent way (GCC contracts them differently), so there the two
//   can differ in the last bit. Here every element is computed the same way, whatever the
//   size or the thread count.
// - The norm is summed in double over each tensor in a fixed order (torch sums float32),
//   so the clipping factor max_norm / (norm + 1e-6) can differ from clip_grad_norm_'s in
//   the last bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "clones.h"

// No implicit fused multiply-adds in these functions (GCC contracts a * b + c by default
// in C++): the update and the coefficients must round as torch's kernel does, with its
// fused multiply-adds written out. A caller into which they inline (coefficients, in the
// launcher's loops) must be compiled the same way: csrc/torch/adam_step.cpp sets the same
// pragma for its own code.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

namespace seqkit {
namespace kernels {

// the per-tensor coefficients of one step, as the fused kernel rounds them
template <typename T>
struct AdamCoef {
  T decay;        // 1 - lr * weight_decay (AdamW), applied to the parameter
  T l2;           // weight_decay (Adam), added to the gradient as l2 * param
  T lerp_w;       // the lerp weight of exp_avg.lerp_(grad, 1 - beta1) (see adam_rows)
  bool lerp_small;
  T beta2, c2;    // exp_avg_sq * beta2 + c2 * grad * grad
  T bc2_sqrt;     // sqrt(1 - beta2^step)
  T eps;
  T neg_step;     // -lr / (1 - beta1^step)
  bool adamw, decay_on;
};

// One tensor's update, operation for operation the vector path of torch's kernel: no
// implicit contraction here, the fused multiply-adds are explicit where that path has them.
template <typename T, bool AdamW, bool Decay, bool SmallLerp>
SEQKIT_INLINE void adam_rows_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                                  int64_t n, const AdamCoef<T>& coef) {
  // the coefficients as locals: stores through p, m, v cannot change them, so the loop vectorizes
  const T decay = coef.decay, l2 = coef.l2, lerp_w = coef.lerp_w, beta2 = coef.beta2, c2 = coef.c2;
  const T bc2_sqrt = coef.bc2_sqrt, eps = coef.eps, neg_step = coef.neg_step;
  const T lerp_w1 = lerp_w - T(1);
  for (int64_t j = 0; j < n; ++j) {
    T param = p[j];
    T grad = g[j];
    if (Decay) {
      if (AdamW) {
        param = param * decay;
      } else {
        grad = std::fma(param, l2, grad);  // grad + param * weight_decay, contracted in torch's build
      }
    }
    // exp_avg.lerp_(grad, w): w < 0.5: exp_avg + w * (grad - exp_avg), else
    // grad + (w - 1) * (grad - exp_avg), each one fused multiply-add
    const T diff = grad - m[j];
    const T mj = SmallLerp ? std::fma(lerp_w, diff, m[j]) : std::fma(lerp_w1, diff, grad);
    // exp_avg_sq * beta2 + (c2 * grad) * grad: torch's build contracts the last product and
    // the sum into one fused multiply-add on its vector path (every element agrees)
    const T sq = v[j] * beta2;
    const T cg = c2 * grad;
    const T vj = std::fma(cg, grad, sq);
    m[j] = mj;
    v[j] = vj;
    const T root = std::sqrt(vj);
    const T scaled = root / bc2_sqrt;
    const T denom = scaled + eps;
    const T num = neg_step * mj;
    const T upd = num / denom;
    p[j] = param + upd;
  }
}

// the loop for the flags of this step
template <typename T>
SEQKIT_INLINE void adam_rows_impl(T* p, const T* g, T* m, T* v, int64_t n, const AdamCoef<T>& c) {
  if (c.adamw) {
    if (c.decay_on) {
      c.lerp_small ? adam_rows_loop<T, true, true, true>(p, g, m, v, n, c)
                   : adam_rows_loop<T, true, true, false>(p, g, m, v, n, c);
    } else {
      c.lerp_small ? adam_rows_loop<T, true, false, true>(p, g, m, v, n, c)
                   : adam_rows_loop<T, true, false, false>(p, g, m, v, n, c);
    }
  } else if (c.decay_on) {
    c.lerp_small ? adam_rows_loop<T, false, true, true>(p, g, m, v, n, c)
                 : adam_rows_loop<T, false, true, false>(p, g, m, v, n, c);
  } else {
    c.lerp_small ? adam_rows_loop<T, false, false, true>(p, g, m, v, n, c)
                 : adam_rows_loop<T, false, false, false>(p, g, m, v, n, c);
  }
}
// float: compiled per ISA level (SEQKIT_CLONES); double serves tests and rare users
SEQKIT_CLONES static void adam_rows(float* p, const float* g, float* m, float* v, int64_t n,
                                    const AdamCoef<float>& c) {
  adam_rows_impl(p, g, m, v, n, c);
}
static void adam_rows(double* p, const double* g, double* m, double* v, int64_t n, const AdamCoef<double>& c) {
  adam_rows_impl(p, g, m, v, n, c);
}

// sum of squares in double, 16 independent partial sums (so it vectorizes without
// reassociation), then added in a fixed order
template <typename T>
SEQKIT_INLINE double sum_squares_impl(const T* __restrict x, int64_t n) {
  double acc[16] = {0.0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int l = 0; l < 16; ++l) acc[l] += double(x[j + l]) * double(x[j + l]);
  }
  for (int l = 0; j < n; ++j, ++l) acc[l] += double(x[j]) * double(x[j]);
  double s = 0.0;
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}
SEQKIT_CLONES static double sum_squares(const float* x, int64_t n) { return sum_squares_impl(x, n); }
static double sum_squares(const double* x, int64_t n) { return sum_squares_impl(x, n); }

template <typename T>
static void scale_in_place(T* x, int64_t n, T s) {
  for (int64_t j = 0; j < n; ++j) x[j] = x[j] * s;
}

template <typename T>
static AdamCoef<T> coefficients(double lr, double beta1, double beta2, double weight_decay, double eps,
                                bool adamw, double step) {
  // as fused_adam_kernel: the coefficients in double, each rounded once to T
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  AdamCoef<T> c;
  c.decay = T(1 - lr * weight_decay);
  c.l2 = T(weight_decay);
  c.lerp_w = T(1 - beta1);
  c.lerp_small = std::abs(c.lerp_w) < T(0.5);
  c.beta2 = T(beta2);
  c.c2 = T(1 - beta2);
  c.bc2_sqrt = T(std::sqrt(bias_correction2));
  c.eps = T(eps);
  c.neg_step = T(-(lr / bias_correction1));
  c.adamw = adamw;
  c.decay_on = weight_decay != 0.0;
  return c;
}

}  // namespace kernels
}  // namespace seqkit

#pragma GCC pop_options
