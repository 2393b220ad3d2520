// How the fused GRU's CPU launcher (csrc/torch/gru.cpp) walks a packed batch (torch-free):
// which rows of a step continue from the previous step, and how the rows are split into
// one block per thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "../packed_layout.h"

namespace seqkit {
namespace kernels {

// Rows [0, n) of step t continue from the previous step; rows [n, batch_sizes[t]) start
// there from h0 (all of them at the first step processed).
static inline int64_t continuing_rows(const Steps& st, int64_t t, bool reverse) {
  if (reverse) return t + 1 < st.T ? st.bs[t + 1] : 0;
  return t > 0 ? st.bs[t] : 0;
}

// Threads split the batch by rows: block k owns rows [blocks[k], blocks[k+1]) of every step.
// A row's recurrence involves only its own row (h_t[b] needs h_{t-1}[b], dh_{t-1}[b] needs
// dh_t[b]), so each block runs all the steps of its rows on one thread with no barrier
// between steps: a layer costs one fork/join, a thread's rows stay in its cache, and a
// thread held up by the machine delays only its own rows. Blocks get about equal numbers
// of row-steps (rows are sorted by length: the first weigh more; the forward's two blocks
// get shares that follow the threads' speeds instead) and at least `grain`
// rows, enough for efficient GEMM slices (8k elements of h, 64 rows at H = 128); a batch
// with fewer rows is one block on the calling thread, with MKL free to thread its GEMMs.
static inline int64_t grain_rows(int64_t H) { return std::max<int64_t>(32, 8192 / std::max<int64_t>(H, 1)); }

// threads: the threads the blocks may use (1 inside a parallel region). share0 (two blocks
// only): the fraction of the work that goes to the first block (0.5: equal row-steps).
static std::vector<int64_t> row_blocks(const Steps& st, int64_t B, int64_t grain, int64_t threads,
                                       double share0 = 0.5) {
  const int64_t n = std::max<int64_t>(1, std::min(threads, B / std::max<int64_t>(grain, 1)));
  std::vector<int64_t> blocks(n + 1, B);
  blocks[0] = 0;
  if (n == 1) return blocks;
  // len[b]: the number of steps row b takes part in (those whose batch size exceeds b)
  std::vector<int64_t> len(B);
  for (int64_t b = B - 1, t = 0; b >= 0; --b) {
    while (t < st.T && st.bs[t] > b) ++t;
    len[b] = t;
  }
  int64_t k = 1, acc = 0;
  for (int64_t b = 0; b < B && k < n; ++b) {
    acc += len[b];
    // rows [blocks[k-1], b] hold the k-th share of the work
    if (n == 2 ? double(acc) >= share0 * double(st.N) : acc * n >= k * st.N) {
      blocks[k] = std::min(std::max(b + 1, blocks[k - 1] + grain), B - grain * (n - k));
      ++k;
    }
  }
  return blocks;
}

// The forward's split between two threads follows their measured speeds. Both threads run
// the same kind of work, yet on a shared machine one core is often slower than the other,
// for seconds at a time (see docs/performance.md): with equal shares the
// fast thread would wait. Each forward call with two blocks times them, and the next call
// gives each thread a share of the row-steps in proportion to its speed (smoothed over
// calls, kept within [0.3, 0.7]). This moves rows between threads, never the arithmetic
// of a row: rows are independent in the forward (no sums across rows), and every GEMM call
// gets at least 4 rows (kMinGemmRows), so a row's product is the same bits whichever call
// holds it. The backward keeps equal shares: its per-block partial sums fix the order of
// its sums across rows. SEQKIT_GRU_FORWARD_SHARE=x fixes block 0's share at x (tests).
struct ForwardBalance {
  std::atomic<double> share0{0.5};
  double next(double forced) const { return forced > 0.0 ? forced : share0.load(std::memory_order_relaxed); }
  void update(double work0, double sec0, double work1, double sec1) {
    if (!(sec0 > 0.0 && sec1 > 0.0 && work0 > 0.0 && work1 > 0.0)) return;
    const double s0 = work0 / sec0, s1 = work1 / sec1;
    const double target = s0 / (s0 + s1);
    const double old = share0.load(std::memory_order_relaxed);
    share0.store(std::min(0.7, std::max(0.3, 0.5 * old + 0.5 * target)), std::memory_order_relaxed);
  }
};
static double forced_forward_share() {
  const char* v = std::getenv("SEQKIT_GRU_FORWARD_SHARE");
  if (v == nullptr || *v == 0) return 0.0;
  const double x = std::atof(v);
  return x > 0.0 && x < 1.0 ? x : 0.0;
}
// A row's GEMM result is the same bits in every call of at least this many rows (MKL's
// sgemm takes another path for 1-3 rows: measured for both per-step shapes, every split).
constexpr int64_t kMinGemmRows = 4;

// Row-steps (the balance's unit of work) of rows [r0, r1).
static int64_t block_work(const Steps& st, int64_t r0, int64_t r1) {
  int64_t w = 0;
  for (int64_t t = 0; t < st.T; ++t) w += std::max<int64_t>(0, std::min(r1, st.bs[t]) - r0);
  return w;
}

}  // namespace kernels
}  // namespace seqkit
