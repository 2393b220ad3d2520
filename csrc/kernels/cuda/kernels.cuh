// seqkit CUDA kernels: torch-free declarations (plain CUDA C++: pointers, sizes and a
// cudaStream_t). The kernels live in encode_pack.cu and gru.cu; the torch-facing
// launchers (tensors, current stream, dispatcher registration) are
// csrc/torch/cuda/*_cuda.cpp, compiled only in a CUDA build. CI compiles the .cu files
// alone with `nvcc -arch=sm_90 -c` (.ci/nvcc-check), without torch.
//
// Every launch function enqueues work on `stream` only (no synchronization, no
// allocation) and returns cudaGetLastError() of its launches, so the caller can raise.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace seqkit {
namespace cuda {

// ---- encode-and-pack ---------------------------------------------------------------
//
// Texts are slices of one flat device buffer of code units `codes` (type C: uint8 for
// bytes/Latin-1, int32/uint32 for code points, or any integer symbol type for a
// pre-encoded corpus). The host has already sorted the batch by length (descending,
// stable) and passes, per sorted sequence b: src_start[b] (first code of its text in
// `codes`) and length[b]; step_offset[t] = first packed row of step t (t < max_len).
// Packed row of (b, t) is step_offset[t] + b, as in torch's PackedSequence.
//
// Mapping: with `lut` (lut_size entries, -1 = not in the alphabet) a code c becomes
// lut[c]; codes outside [0, lut_size) or mapping to -1 become `unknown` when
// unknown >= 0, else they are errors. Without `lut` the code is the symbol. A symbol
// s < 0 or, when num_symbols >= 0, s >= num_symbols is an error. Errors write nothing
// for that position; the smallest (b << 32 | t) of all errors is stored in *error
// (atomicMin), which the caller initializes to ~0ull (no error) and checks afterwards.
//
// Output: int64 indices out_index[N] (one_hot == false) or float one-hot rows
// out_onehot[N, num_symbols] (one_hot == true; the caller zero-fills them first).
struct PackArgs {
  const int64_t* src_start;    // [n]
  const int64_t* length;       // [n]
  const int64_t* step_offset;  // [max_len]
  int64_t n;                   // sequences in the batch
  const int32_t* lut;          // [lut_size] or nullptr
  int64_t lut_size;
  int64_t unknown;      // symbol for unmapped codes, or -1: error
  int64_t num_symbols;  // bound (and one-hot width), or -1: no bound (indices only)
  bool one_hot;
  int64_t* out_index;   // [N] when !one_hot
  float* out_onehot;    // [N, num_symbols] when one_hot
  unsigned long long* error;  // [1], set to ~0ull by the caller
};

cudaError_t encode_pack_u8(const uint8_t* codes, const PackArgs& a, cudaStream_t stream);
cudaError_t encode_pack_i8(const int8_t* codes, const PackArgs& a, cudaStream_t stream);
cudaError_t encode_pack_i16(const int16_t* codes, const PackArgs& a, cudaStream_t stream);
cudaError_t encode_pack_u16(const uint16_t* codes, const PackArgs& a, cudaStream_t stream);
cudaError_t encode_pack_i32(const int32_t* codes, const PackArgs& a, cudaStream_t stream);
cudaError_t encode_pack_u32(const uint32_t* codes, const PackArgs& a, cudaStream_t stream);
cudaError_t encode_pack_i64(const int64_t* codes, const PackArgs& a, cudaStream_t stream);

// ---- fused GRU (one layer, one direction, packed rows) ------------------------------
//
// Layout as the CPU op (csrc/torch/gru.cpp): step t owns packed rows [off, off + bs); row b
// of the step is the b-th sequence of the sorted batch; G = 3H, gates r, z, n.
//
// Forward gate pass of one step, one thread per (b, j), b < bs, j < H:
//   xi = idx ? gi[idx[off+b], :] : gi[off+b, :]   (gi: [N, G], or W_ih^T [V, G] for idx)
//   hh = gh[b, :]                                  (the recurrent product h @ W_hh^T)
//   r = sig(xi_r + bih_r + hh_r + bhh_r), z = sig(...), hn = hh_n + bhh_n,
//   n = tanh(xi_n + bih_n + r * hn), h' = n + z * (h - n)
// saves gates[off+b] = [r, z, n, hn] (4H), hprev[off+b] = h, out[off+b] = h', and
// h (hbuf[b]) = h'. Index input: idx values outside [0, V) set *bad_index = 1 and read
// zeros instead (the caller checks the flag).
template <typename T>
struct GruFwdStep {
  int64_t bs, H, off, V;
  const T* gi;
  const int64_t* idx;  // nullptr for dense input
  const T* bih;        // [G] (zeros without bias)
  const T* gh;         // [bs, G]
  const T* bhh;        // [G]
  T* hbuf;             // [B, H]
  T* gates;            // [N, 4H]
  T* hprev;            // [N, H]
  T* out;              // [N, H]
  int* bad_index;      // [1] or nullptr
};
cudaError_t gru_fwd_step(const GruFwdStep<float>& s, cudaStream_t stream);
cudaError_t gru_fwd_step(const GruFwdStep<double>& s, cudaStream_t stream);

// Backward gate pass of one step, one thread per (b, j):
//   d = dh[b] + gout[off+b]; with r, z, n, hn = gates[off+b], h = hprev[off+b]:
//   dan = d (1-z) (1-n^2), daz = d (h-n) z (1-z), dar = dan hn r (1-r)
//   dgi[off+b] = [dar, daz, dan]; dgh[off+b] = [dar, daz, dan r]; dh[b] = d z
// (the caller then adds dgh[off:off+bs] @ W_hh to dh[0:bs] with one GEMM).
template <typename T>
struct GruBwdStep {
  int64_t bs, H, off;
  const T* gout;   // [N, H]
  const T* gates;  // [N, 4H]
  const T* hprev;  // [N, H]
  T* dh;           // [B, H]
  T* dgi;          // [N, G]
  T* dgh;          // [N, G]
};
cudaError_t gru_bwd_step(const GruBwdStep<float>& s, cudaStream_t stream);
cudaError_t gru_bwd_step(const GruBwdStep<double>& s, cudaStream_t stream);

// dst[idx[row], :] += src[row, :] for row < N (atomicAdd), src [N, G], dst [V, G];
// idx values outside [0, V) are skipped (the forward pass already rejected them).
cudaError_t scatter_add_rows(const float* src, const int64_t* idx, int64_t N, int64_t G, int64_t V,
                             float* dst, cudaStream_t stream);
cudaError_t scatter_add_rows(const double* src, const int64_t* idx, int64_t N, int64_t G, int64_t V,
                             double* dst, cudaStream_t stream);

// ---- persistent fused GRU forward (float32, H <= 256) ------------------------------
//
// Whole forward of one layer in one launch: each block owns a tile of `rows_per_block`
// sequences of the sorted batch and runs every step for them (rows are independent, so
// no grid-wide synchronization), with h of its rows in shared memory and W_hh^T in
// shared memory when it fits (else read through L1/L2). Same inputs and outputs as the
// per-step path:
// gi is the input projection ([N, G], or W_ih^T [V, G] with idx), step_offset /
// batch_sizes are device copies ([T] each), h0 [B, H]. Writes out, gates, hprev and
// h_n [B, H]. Returns cudaErrorInvalidValue when H > 256 (use the per-step path).
struct GruPersistentFwd {
  int64_t T, B, H, V;
  const int64_t* batch_sizes;  // [T], device
  const int64_t* step_offset;  // [T], device
  const float* gi;
  const int64_t* idx;  // nullptr for dense input
  const float* bih;
  const float* w_hh_t; // [H, G]: W_hh transposed, contiguous (coalesced reads)
  const float* bhh;
  const float* h0;     // [B, H]
  float* h_n;          // [B, H]
  float* gates;
  float* hprev;
  float* out;
  int* bad_index;
  bool reverse;
};
int64_t gru_persistent_max_hidden();
cudaError_t gru_fwd_persistent(const GruPersistentFwd& p, cudaStream_t stream);

}  // namespace cuda
}  // namespace seqkit
