// Per-step kernels of the fused GRU on the CPU (torch-free: raw pointers and sizes, so
// they compile and test on their own; the launcher csrc/torch/gru.cpp includes them into
// its translation unit, where they inline into its step loops). Each gate pass runs one
// time step for rows [b0, b1) of the active batch; the float versions are compiled for
// AVX-512, AVX2+FMA and baseline x86-64 and picked at load time (GCC target_clones,
// clones.h), the double versions serve gradcheck. The loops only vectorize with
// -fno-trapping-math (setup.py and the JIT build pass it, as torch does). Also the table
// that symbol indices gather their input projection from (index_table).
#pragma once

#include <cstdint>

#include "buffers.h"
#include "fastmath.h"
#include "gru_avx512.h"

#include "clones.h"

#include <vector>

namespace seqkit {
namespace kernels {

using fastmath::sigmoid;
using fastmath::tanh;

// One row of the forward gate pass: gates of row b from its input projection xi, which
// already holds the biases (b_ir + b_hr, b_iz + b_hz, b_in), and its recurrent product hh;
// bhn is b_hn, the one bias inside r * (W_hn h + b_hn). Saves r, z, n, hn and h_prev; h is
// updated in place.
template <typename T>
SEQKIT_INLINE void fwd_row(int64_t H, const T* __restrict xi, const T* __restrict hh,
                           const T* __restrict bhn, T* __restrict hp, T* __restrict ws,
                           T* __restrict hpo, T* __restrict o) {
  for (int64_t j = 0; j < H; ++j) {
    const T hn = hh[2 * H + j] + bhn[j];
    const T r = sigmoid(xi[j] + hh[j]);
    const T z = sigmoid(xi[H + j] + hh[H + j]);
    const T n = tanh(xi[2 * H + j] + r * hn);
    const T h = hp[j];
    const T hnew = n + z * (h - n);
    ws[j] = r;
    ws[H + j] = z;
    ws[2 * H + j] = n;
    ws[3 * H + j] = hn;
    hpo[j] = h;
    o[j] = hnew;
    hp[j] = hnew;
  }
}

// Gate pass of one step for rows [b0, b1) (float and double variants below). gi: the
// input projection with the biases folded in, [N, 3H] by packed row, or for symbol indices
// (idx not null) [V, 3H] by symbol; bhn: b_hn [H].
template <typename T>
SEQKIT_INLINE void fwd_rows_impl(int64_t b0, int64_t b1, int64_t H, int64_t off, const T* gi,
                                 const int64_t* idx, const T* gh, const T* bhn, T* hbuf, T* gates,
                                 T* hprev, T* out) {
  const int64_t G = 3 * H;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = off + b;
    const T* xi = idx ? gi + idx[row] * G : gi + row * G;
    fwd_row<T>(H, xi, gh + b * G, bhn, hbuf + b * H, gates + row * 4 * H, hprev + row * H, out + row * H);
  }
}

SEQKIT_CLONES static void fwd_rows_portable(int64_t b0, int64_t b1, int64_t H, int64_t off, const float* gi,
                                            const int64_t* idx, const float* gh, const float* bhn, float* hbuf,
                                            float* gates, float* hprev, float* out) {
  fwd_rows_impl<float>(b0, b1, H, off, gi, idx, gh, bhn, hbuf, gates, hprev, out);
}
// float: the AVX-512 intrinsics (gru_avx512.h) where the CPU has them and H % 16 == 0
static inline void fwd_rows(int64_t b0, int64_t b1, int64_t H, int64_t off, const float* gi,
                            const int64_t* idx, const float* gh, const float* bhn, float* hbuf,
                            float* gates, float* hprev, float* out) {
#ifdef SEQKIT_AVX512_GATES
  if (H % 16 == 0 && avx512::available()) {
    avx512::fwd_rows(b0, b1, H, off, gi, idx, gh, bhn, hbuf, gates, hprev, out);
    return;
  }
#endif
  fwd_rows_portable(b0, b1, H, off, gi, idx, gh, bhn, hbuf, gates, hprev, out);
}
static inline void fwd_rows(int64_t b0, int64_t b1, int64_t H, int64_t off, const double* gi,
                            const int64_t* idx, const double* gh, const double* bhn, double* hbuf,
                            double* gates, double* hprev, double* out) {
  fwd_rows_impl<double>(b0, b1, H, off, gi, idx, gh, bhn, hbuf, gates, hprev, out);
}

// One row of the backward gate pass. d = dh + go (go: this row's output gradient, absent
// when the output is unused: kGo = false). Writes the gate gradients of the recurrent
// product to dg and those of the input projection to di (dense input), or adds them to
// gw (symbol indices, kScatter: gw is the row of grad W_ih^T that this row's symbol
// selects, so the scatter-add happens here, not in a pass of its own). Adds dar, daz,
// dan, dan * r to acc[4H] (the bias-gradient sums; with kScatter only dan * r, the others
// being the column sums of grad W_ih^T) and leaves dh = d * z. gw and acc hold one step's
// sums in T; the caller moves them into its double sums after the step (flush_sums), so a
// sum over all the rows of a batch keeps the precision of double (torch's to 1e-5) while
// the per-row work stays in T.
template <typename T, bool kGo, bool kScatter>
SEQKIT_INLINE void bwd_row(int64_t H, const T* __restrict go, const T* __restrict ws,
                           const T* __restrict hp, T* __restrict dh, T* __restrict di,
                           T* __restrict gw, T* __restrict dg, T* __restrict acc) {
  for (int64_t j = 0; j < H; ++j) {
    const T d = kGo ? dh[j] + go[j] : dh[j];
    const T r = ws[j], z = ws[H + j], n = ws[2 * H + j], hn = ws[3 * H + j];
    const T dn = d * (T(1) - z);
    const T dz = d * (hp[j] - n);
    const T dan = dn * (T(1) - n * n);
    const T dar = dan * hn * r * (T(1) - r);
    const T daz = dz * z * (T(1) - z);
    if (kScatter) {  // the sums of dar, daz, dan are those of gw's rows, taken after
      gw[j] += dar;
      gw[H + j] += daz;
      gw[2 * H + j] += dan;
    } else {
      di[j] = dar;
      di[H + j] = daz;
      di[2 * H + j] = dan;
      acc[j] += dar;
      acc[H + j] += daz;
      acc[2 * H + j] += dan;
    }
    dg[j] = dar;
    dg[H + j] = daz;
    dg[2 * H + j] = dan * r;
    acc[3 * H + j] += dan * r;
    dh[j] = d * z;
  }
}

template <typename T, bool kGo, bool kScatter>
SEQKIT_INLINE void bwd_rows_loop(int64_t b0, int64_t b1, int64_t H, int64_t off, const T* gout,
                                 const T* gates, const T* hprev, const int64_t* idx, T* dhbuf,
                                 T* dgi, T* gw, T* dgh, T* acc) {
  const int64_t G = 3 * H;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = off + b;
    bwd_row<T, kGo, kScatter>(H, kGo ? gout + row * H : nullptr, gates + row * 4 * H,
                              hprev + row * H, dhbuf + b * H, kScatter ? nullptr : dgi + b * G,
                              kScatter ? gw + idx[row] * G : nullptr, dgh + b * G, acc);
  }
}

// Gradient pass of one step for rows [b0, b1): dh (in dhbuf) + grad_output (gout, or null
// for zero) -> gate gradients: dgh[b] (of the recurrent product) and, for dense input,
// dgi[b] (of the input projection), both holding this step's rows indexed by b like
// dhbuf; for symbol indices (idx not null) row's input-projection gradient is added
// to gw[idx[row]] (grad W_ih^T, [V, 3H]). acc[4H] accumulates the bias-gradient sums
// (only acc[3H:4H] for symbol indices: the rest are gw's column sums).
// dhbuf receives the direct part dh * z of dh_prev (the GEMM part dgh @ W_hh is added
// after). gw and acc (one step's sums, see bwd_row) must belong to the calling thread.
template <typename T>
SEQKIT_INLINE void bwd_rows_impl(int64_t b0, int64_t b1, int64_t H, int64_t off, const T* gout,
                                 const T* gates, const T* hprev, const int64_t* idx, T* dhbuf,
                                 T* dgi, T* gw, T* dgh, T* acc) {
  if (gout && idx) {
    bwd_rows_loop<T, true, true>(b0, b1, H, off, gout, gates, hprev, idx, dhbuf, dgi, gw, dgh, acc);
  } else if (gout) {
    bwd_rows_loop<T, true, false>(b0, b1, H, off, gout, gates, hprev, idx, dhbuf, dgi, gw, dgh, acc);
  } else if (idx) {
    bwd_rows_loop<T, false, true>(b0, b1, H, off, gout, gates, hprev, idx, dhbuf, dgi, gw, dgh, acc);
  } else {
    bwd_rows_loop<T, false, false>(b0, b1, H, off, gout, gates, hprev, idx, dhbuf, dgi, gw, dgh, acc);
  }
}

SEQKIT_CLONES static void bwd_rows(int64_t b0, int64_t b1, int64_t H, int64_t off, const float* gout,
                                   const float* gates, const float* hprev, const int64_t* idx,
                                   float* dhbuf, float* dgi, float* gw, float* dgh, float* acc) {
  bwd_rows_impl<float>(b0, b1, H, off, gout, gates, hprev, idx, dhbuf, dgi, gw, dgh, acc);
}
static inline void bwd_rows(int64_t b0, int64_t b1, int64_t H, int64_t off, const double* gout,
                            const double* gates, const double* hprev, const int64_t* idx,
                            double* dhbuf, double* dgi, double* gw, double* dgh, double* acc) {
  bwd_rows_impl<double>(b0, b1, H, off, gout, gates, hprev, idx, dhbuf, dgi, gw, dgh, acc);
}

// dst[i] += src[i] in double, then src[i] = 0: one step's sums (bwd_rows) moved into a
// block's double sums, leaving src ready for the next step.
template <typename T>
SEQKIT_INLINE void flush_sums_impl(T* __restrict src, double* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] += double(src[i]);
    src[i] = T(0);
  }
}
SEQKIT_CLONES static void flush_sums(float* src, double* dst, int64_t n) { flush_sums_impl<float>(src, dst, n); }
static inline void flush_sums(double* src, double* dst, int64_t n) { flush_sums_impl<double>(src, dst, n); }

// The table that symbol indices gather their input projection from: W_ih^T with the
// folded biases, out[v, g] = w[g, v] + (b_ih + b_hh for the r and z gates, b_ih for n).
// w: W_ih [G, V] (float, double or, in mixed precision, bfloat16 weights), out: [V, G].
template <typename W, typename T>
static void index_table(const W* w, int64_t G, int64_t V, int64_t H, const T* bih, const T* bhh, T* out) {
  std::vector<T> bias(G);
  for (int64_t g = 0; g < G; ++g) bias[g] = g < 2 * H ? bih[g] + bhh[g] : bih[g];
  transpose_tiled(w, G, V, out, [&](W x, int64_t g) { return static_cast<T>(x) + bias[g]; });
}

}  // namespace kernels
}  // namespace seqkit
