// Fused GRU on packed rows, device side (torch-free; see kernels.cuh for the contract).
//
// Per-step path (haste's pattern): the launcher runs the input projection of all steps as
// one GEMM (or passes W_ih^T for a gather by symbol index), then per step one cuBLAS GEMM
// for the recurrent product of the active rows and ONE of the pointwise kernels below.
// Persistent path (float32, H <= 256): gru_fwd_persistent runs all steps of a tile of
// sequences in one launch.
//
// Gates follow torch.nn.GRU: r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn));
// h' = n + z (h - n). Math in the storage type (float or double), plain expf/tanhf
// (no fast-math intrinsics) so results match the CPU op and cuDNN to ~1e-6.
#include "kernels.cuh"

namespace seqkit {
namespace cuda {
namespace {

__device__ __forceinline__ float sigmoid_(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ double sigmoid_(double x) { return 1.0 / (1.0 + exp(-x)); }
__device__ __forceinline__ float tanh_(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(double x) { return tanh(x); }

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535LL * 32) blocks = 65535LL * 32;  // grid-stride loops cover the rest
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

template <typename T>
__global__ void fwd_step_kernel(GruFwdStep<T> s) {
  const int64_t H = s.H, G = 3 * H;
  const int64_t total = s.bs * H;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = e / H, j = e - b * H;
    const int64_t row = s.off + b;
    T xr = T(0), xz = T(0), xn = T(0);
    const T* xi = nullptr;
    if (s.idx != nullptr) {
      const int64_t v = s.idx[row];
      if (v >= 0 && v < s.V) {
        xi = s.gi + v * G;
      } else if (s.bad_index != nullptr) {
        *s.bad_index = 1;
      }
    } else {
      xi = s.gi + row * G;
    }
    if (xi != nullptr) {
      xr = xi[j];
      xz = xi[H + j];
      xn = xi[2 * H + j];
    }
    const T* hh = s.gh + b * G;
    const T hn = hh[2 * H + j] + s.bhh[2 * H + j];
    const T r = sigmoid_((xr + s.bih[j]) + (hh[j] + s.bhh[j]));
    const T z = sigmoid_((xz + s.bih[H + j]) + (hh[H + j] + s.bhh[H + j]));
    const T n = tanh_((xn + s.bih[2 * H + j]) + r * hn);
    const T h = s.hbuf[b * H + j];
    const T hnew = n + z * (h - n);
    T* ws = s.gates + row * 4 * H;
    ws[j] = r;
    ws[H + j] = z;
    ws[2 * H + j] = n;
    ws[3 * H + j] = hn;
    s.hprev[row * H + j] = h;
    s.out[row * H + j] = hnew;
    s.hbuf[b * H + j] = hnew;
  }
}

template <typename T>
__global__ void bwd_step_kernel(GruBwdStep<T> s) {
  const int64_t H = s.H, G = 3 * H;
  const int64_t total = s.bs * H;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = e / H, j = e - b * H;
    const int64_t row = s.off + b;
    const T d = s.dh[b * H + j] + s.gout[row * H + j];
    const T* ws = s.gates + row * 4 * H;
    const T r = ws[j], z = ws[H + j], n = ws[2 * H + j], hn = ws[3 * H + j];
    const T hp = s.hprev[row * H + j];
    const T dn = d * (T(1) - z);
    const T dz = d * (hp - n);
    const T dan = dn * (T(1) - n * n);
    const T dar = dan * hn * r * (T(1) - r);
    const T daz = dz * z * (T(1) - z);
    T* di = s.dgi + row * G;
    T* dg = s.dgh + row * G;
    di[j] = dar;
    di[H + j] = daz;
    di[2 * H + j] = dan;
    dg[j] = dar;
    dg[H + j] = daz;
    dg[2 * H + j] = dan * r;
    s.dh[b * H + j] = d * z;
  }
}

template <typename T>
__global__ void scatter_add_kernel(const T* __restrict__ src, const int64_t* __restrict__ idx,
                                   int64_t N, int64_t G, int64_t V, T* __restrict__ dst) {
  const int64_t total = N * G;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = e / G, j = e - row * G;
    const int64_t v = idx[row];
    if (v < 0 || v >= V) continue;
    atomicAdd(dst + v * G + j, src[e]);
  }
}

template <typename T>
cudaError_t fwd_step(const GruFwdStep<T>& s, cudaStream_t stream) {
  if (s.bs <= 0 || s.H <= 0) return cudaSuccess;
  fwd_step_kernel<T><<<grid_for(s.bs * s.H), kThreads, 0, stream>>>(s);
  return cudaGetLastError();
}

template <typename T>
cudaError_t bwd_step(const GruBwdStep<T>& s, cudaStream_t stream) {
  if (s.bs <= 0 || s.H <= 0) return cudaSuccess;
  bwd_step_kernel<T><<<grid_for(s.bs * s.H), kThreads, 0, stream>>>(s);
  return cudaGetLastError();
}

template <typename T>
cudaError_t scatter(const T* src, const int64_t* idx, int64_t N, int64_t G, int64_t V, T* dst,
                    cudaStream_t stream) {
  if (N <= 0 || G <= 0) return cudaSuccess;
  scatter_add_kernel<T><<<grid_for(N * G), kThreads, 0, stream>>>(src, idx, N, G, V, dst);
  return cudaGetLastError();
}

// ---- persistent forward ---------------------------------------------------------------
//
// Block = one tile of R consecutive sequences of the sorted batch, blockDim = H rounded up
// to a warp: thread j owns hidden unit j of every row of the tile. Per step: the R x 3
// dot products W_h{r,z,n}[j, :] . h[row, :] (each weight used for all R rows; h broadcast
// from shared memory), the gates, and the new h back to shared memory. W_hh^T [H, 3H] is
// copied once into shared memory when it fits (SMEM_W: hidden <= ~130 in float32 on
// H100/H200), else read coalesced through L1/L2 at every step. Rows of the tile that are
// not active at a step are computed and discarded (a tile's rows have neighbouring
// lengths, so little is wasted).
constexpr int kMaxHidden = 256;
constexpr int kMaxTile = 8;

template <int R, bool SMEM_W>
__global__ void __launch_bounds__(kMaxHidden) fwd_persistent_kernel(GruPersistentFwd p) {
  extern __shared__ float w_smem[];  // [H, G] when SMEM_W (dynamic shared memory)
  __shared__ float sh[R][kMaxHidden];
  const int64_t H = p.H, G = 3 * H;
  const int j = threadIdx.x;
  const bool owner = j < H;
  const int64_t b0 = static_cast<int64_t>(blockIdx.x) * R;
  const int64_t rows = (p.B - b0) < R ? (p.B - b0) : R;  // rows of this tile (>= 1)
  for (int r = 0; r < R; ++r) {
    if (owner) sh[r][j] = r < rows ? p.h0[(b0 + r) * H + j] : 0.0f;
  }
  const int Hi = static_cast<int>(H), Gi = 3 * Hi;  // H <= kMaxHidden: 32-bit offsets in W
  if constexpr (SMEM_W) {
    for (int e = threadIdx.x; e < Hi * Gi; e += blockDim.x) w_smem[e] = p.w_hh_t[e];
  }
  __syncthreads();
  const float bhr = owner ? p.bhh[j] : 0.f, bhz = owner ? p.bhh[H + j] : 0.f,
              bhn = owner ? p.bhh[2 * H + j] : 0.f;
  const float bir = owner ? p.bih[j] : 0.f, biz = owner ? p.bih[H + j] : 0.f,
              bin = owner ? p.bih[2 * H + j] : 0.f;
  for (int64_t k = 0; k < p.T; ++k) {
    const int64_t t = p.reverse ? p.T - 1 - k : k;
    const int64_t bs = p.batch_sizes[t];
    int64_t act = bs - b0;  // active rows of the tile at this step
    if (act <= 0) {
      if (p.reverse) continue;  // longer sequences come later in reverse
      break;                    // forward: batch_sizes only shrink
    }
    if (act > rows) act = rows;
    const int64_t off = p.step_offset[t];
    float ar[R], az[R], an[R];
#pragma unroll
    for (int r = 0; r < R; ++r) ar[r] = az[r] = an[r] = 0.f;
    if (owner) {
      for (int q = 0; q < Hi; ++q) {
        float wr, wz, wn;
        if constexpr (SMEM_W) {
          const float* w = w_smem + q * Gi + j;
          wr = w[0];
          wz = w[Hi];
          wn = w[2 * Hi];
        } else {
          const float* w = p.w_hh_t + q * Gi + j;
          wr = __ldg(w);
          wz = __ldg(w + Hi);
          wn = __ldg(w + 2 * Hi);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float hv = sh[r][q];
          ar[r] = fmaf(wr, hv, ar[r]);
          az[r] = fmaf(wz, hv, az[r]);
          an[r] = fmaf(wn, hv, an[r]);
        }
      }
    }
    float hnew[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      hnew[r] = owner ? sh[r][j] : 0.f;
      if (owner && r < act) {
        const int64_t row = off + b0 + r;
        float xr = 0.f, xz = 0.f, xn = 0.f;
        const float* xi = nullptr;
        if (p.idx != nullptr) {
          const int64_t v = p.idx[row];
          if (v >= 0 && v < p.V) {
            xi = p.gi + v * G;
          } else if (p.bad_index != nullptr) {
            *p.bad_index = 1;
          }
        } else {
          xi = p.gi + row * G;
        }
        if (xi != nullptr) {
          xr = xi[j];
          xz = xi[H + j];
          xn = xi[2 * H + j];
        }
        const float hn = an[r] + bhn;
        const float rg = sigmoid_((xr + bir) + (ar[r] + bhr));
        const float zg = sigmoid_((xz + biz) + (az[r] + bhz));
        const float ng = tanh_((xn + bin) + rg * hn);
        const float h = hnew[r];
        const float hv = ng + zg * (h - ng);
        float* ws = p.gates + row * 4 * H;
        ws[j] = rg;
        ws[H + j] = zg;
        ws[2 * H + j] = ng;
        ws[3 * H + j] = hn;
        p.hprev[row * H + j] = h;
        p.out[row * H + j] = hv;
        hnew[r] = hv;
      }
    }
    __syncthreads();  // every thread has read sh for this step
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (owner) sh[r][j] = hnew[r];
    }
    __syncthreads();
  }
  for (int r = 0; r < R; ++r) {
    if (owner && r < rows) p.h_n[(b0 + r) * H + j] = sh[r][j];
  }
}

template <int R, bool SMEM_W>
cudaError_t launch_persistent(const GruPersistentFwd& p, unsigned threads, size_t dyn_smem,
                              cudaStream_t stream) {
  if (dyn_smem > 0) {
    // above 48 KiB of dynamic shared memory a kernel must opt in
    const cudaError_t err = cudaFuncSetAttribute(fwd_persistent_kernel<R, SMEM_W>,
                                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(dyn_smem));
    if (err != cudaSuccess) return err;
  }
  const int64_t blocks = (p.B + R - 1) / R;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  fwd_persistent_kernel<R, SMEM_W><<<static_cast<unsigned>(blocks), threads, dyn_smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t gru_fwd_step(const GruFwdStep<float>& s, cudaStream_t st) { return fwd_step(s, st); }
cudaError_t gru_fwd_step(const GruFwdStep<double>& s, cudaStream_t st) { return fwd_step(s, st); }
cudaError_t gru_bwd_step(const GruBwdStep<float>& s, cudaStream_t st) { return bwd_step(s, st); }
cudaError_t gru_bwd_step(const GruBwdStep<double>& s, cudaStream_t st) { return bwd_step(s, st); }

cudaError_t scatter_add_rows(const float* src, const int64_t* idx, int64_t N, int64_t G, int64_t V,
                             float* dst, cudaStream_t stream) {
  return scatter(src, idx, N, G, V, dst, stream);
}
cudaError_t scatter_add_rows(const double* src, const int64_t* idx, int64_t N, int64_t G, int64_t V,
                             double* dst, cudaStream_t stream) {
  return scatter(src, idx, N, G, V, dst, stream);
}

int64_t gru_persistent_max_hidden() { return kMaxHidden; }

cudaError_t gru_fwd_persistent(const GruPersistentFwd& p, cudaStream_t stream) {
  if (p.H <= 0 || p.H > kMaxHidden) return cudaErrorInvalidValue;
  if (p.B <= 0) return cudaSuccess;
  const unsigned threads = static_cast<unsigned>((p.H + 31) / 32 * 32);
  int device = 0, sms = 0, optin = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (err != cudaSuccess) return err;
  if (sms < 1) sms = 1;
  const size_t w_bytes = static_cast<size_t>(3 * p.H * p.H) * sizeof(float);
  const size_t static_bytes = static_cast<size_t>(kMaxTile) * kMaxHidden * sizeof(float);
  if (w_bytes + static_bytes <= static_cast<size_t>(optin)) {
    // W_hh in shared memory: one block per SM at most, so the fewest rows per tile that
    // still fit the batch into about one wave of blocks (each block loads W_hh once).
    int64_t R = 1;
    while (R < kMaxTile && (p.B + R - 1) / R > sms) R *= 2;
    switch (R) {
      case 1: return launch_persistent<1, true>(p, threads, w_bytes, stream);
      case 2: return launch_persistent<2, true>(p, threads, w_bytes, stream);
      case 4: return launch_persistent<4, true>(p, threads, w_bytes, stream);
      default: return launch_persistent<8, true>(p, threads, w_bytes, stream);
    }
  }
  // W_hh through L1/L2: 4 rows per tile when that still gives one block per SM, else
  // 2, else 1 (weights are reused across the rows of a tile).
  if (p.B / 4 >= sms) return launch_persistent<4, false>(p, threads, 0, stream);
  if (p.B / 2 >= sms) return launch_persistent<2, false>(p, threads, 0, stream);
  return launch_persistent<1, false>(p, threads, 0, stream);
}

}  // namespace cuda
}  // namespace seqkit
