// encode-and-pack on the device (torch-free; see kernels.cuh for the contract).
//
// One warp per sorted sequence b: lane l handles positions t = l, l + 32, ... of its text,
// maps the code to a symbol (lookup table or identity), checks it and writes it to packed
// row step_offset[t] + b (int64 index, or a 1.0f in its one-hot row). Names are short, so
// a warp covers a text in one or two rounds; the writes of one step are contiguous
// across sequences of neighbouring warps.
#include "kernels.cuh"

namespace seqkit {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

template <typename C>
__global__ void encode_pack_kernel(const C* __restrict__ codes, PackArgs a) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (b >= a.n) return;
  const int lane = threadIdx.x & 31;
  const int64_t start = a.src_start[b];
  const int64_t len = a.length[b];
  for (int64_t t = lane; t < len; t += 32) {
    const int64_t c = static_cast<int64_t>(codes[start + t]);
    int64_t s;
    if (a.lut != nullptr) {
      s = (c >= 0 && c < a.lut_size) ? static_cast<int64_t>(a.lut[c]) : -1;
      if (s < 0) s = a.unknown;  // -1 when there is no unknown symbol: an error below
    } else {
      s = c;
    }
    if (s < 0 || (a.num_symbols >= 0 && s >= a.num_symbols)) {
      const unsigned long long where =
          (static_cast<unsigned long long>(b) << 32) | static_cast<unsigned long long>(t);
      atomicMin(a.error, where);
      continue;
    }
    const int64_t row = a.step_offset[t] + b;
    if (a.one_hot) {
      a.out_onehot[row * a.num_symbols + s] = 1.0f;
    } else {
      a.out_index[row] = s;
    }
  }
}

template <typename C>
cudaError_t launch(const C* codes, const PackArgs& a, cudaStream_t stream) {
  if (a.n <= 0) return cudaSuccess;
  if (a.one_hot && a.num_symbols <= 0) return cudaErrorInvalidValue;
  const int64_t blocks = (a.n + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  encode_pack_kernel<C><<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, stream>>>(codes, a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t encode_pack_u8(const uint8_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }
cudaError_t encode_pack_i8(const int8_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }
cudaError_t encode_pack_i16(const int16_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }
cudaError_t encode_pack_u16(const uint16_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }
cudaError_t encode_pack_i32(const int32_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }
cudaError_t encode_pack_u32(const uint32_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }
cudaError_t encode_pack_i64(const int64_t* c, const PackArgs& a, cudaStream_t s) { return launch(c, a, s); }

}  // namespace cuda
}  // namespace seqkit
