// Row-major GEMMs on raw pointers through the Fortran BLAS that torch links (MKL or
// OpenBLAS), for the fused GRU's per-step products (torch-free).
//
// sgemm_/dgemm_ are declared as ATen declares them (LP64) and called directly: the ATen
// op costs a dispatch and two tensor views per call, and the GRU makes two or three calls
// per row block per step. They are weak: a torch build that exports no BLAS leaves them
// null, every function here then returns false and the caller uses the ATen op instead.
#pragma once

#include <cstdint>
#include <limits>

extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc) __attribute__((weak));
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc) __attribute__((weak));
}

namespace seqkit {
namespace kernels {

static inline bool blas_call(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                             const float* al, const float* a, const int* lda, const float* b,
                             const int* ldb, const float* be, float* c, const int* ldc) {
  if (sgemm_ == nullptr) return false;
  sgemm_(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
  return true;
}
static inline bool blas_call(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                             const double* al, const double* a, const int* lda, const double* b,
                             const int* ldb, const double* be, double* c, const int* ldc) {
  if (dgemm_ == nullptr) return false;
  dgemm_(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
  return true;
}

// Row-major C[m, n] = beta * C + A[m, k] @ op(B), B stored [n, k] (b_t: op(B) = B^T) or
// [k, n]; all contiguous. Returns false where no BLAS symbol is available.
template <typename T>
static bool gemm_rows(int64_t m, int64_t n, int64_t k, const T* a, const T* b, bool b_t, T beta, T* c) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (m > kMax || n > kMax || k > kMax) return false;
  // column-major view: C^T [n, m] = op(B)^T [n, k] @ A^T [k, m]
  const int M = static_cast<int>(n), N = static_cast<int>(m), K = static_cast<int>(k);
  const int lda = b_t ? K : M, ldb = K, ldc = M;
  const T one = T(1);
  return blas_call(b_t ? "T" : "N", "N", &M, &N, &K, &one, b, &lda, a, &ldb, &beta, c, &ldc);
}

// Row-major C[n1, n2] += A[k, n1]^T @ B[k, n2], all contiguous: a weight gradient summed
// over k rows. Returns false where no BLAS symbol is available.
template <typename T>
static bool gemm_tn_acc(int64_t n1, int64_t n2, int64_t k, const T* a, const T* b, T* c) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (n1 > kMax || n2 > kMax || k > kMax) return false;
  // column-major view: C^T [n2, n1] += B^T [n2, k] @ A [k, n1]
  const int M = static_cast<int>(n2), N = static_cast<int>(n1), K = static_cast<int>(k);
  const T one = T(1);
  return blas_call("N", "T", &M, &N, &K, &one, b, &M, a, &N, &one, c, &M);
}

}  // namespace kernels
}  // namespace seqkit
