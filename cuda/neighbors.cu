// Distance epilogues on the GPU: approximate squared distances from a tile of dot products, the k-th smallest
// value of each row (exact radix selection), the ball tests with the tile's rounding margin, and the float64
// re-check of undecided pairs in NumPy's summation order (the decisions of cpp/neighbors.cpp, bit for bit).
#include <cmath>

#include "common.cuh"

namespace gmcuda {
namespace {

using namespace gm;  // the shared rules of cpp/numerics.hpp

constexpr unsigned FULL_WARP = 0xffffffffu;

template <class T>
__global__ void sq_distances_kernel(T* tile, index_t rows, index_t cols, index_t ld, const T* row_sq, const T* col_sq,
                                    index_t self_offset) {
  const index_t total = rows * cols;
  for (index_t e = blockIdx.x * index_t(blockDim.x) + threadIdx.x; e < total; e += index_t(gridDim.x) * blockDim.x) {
    const index_t i = e / cols, j = e - i * cols;
    T& value = tile[i * ld + j];
    value =
        (self_offset >= 0 && j == i + self_offset) ? T(INFINITY) : sq_distance_from_dot(row_sq[i], col_sq[j], value);
  }
}

// One block per row (grid-strided): for each 8-bit digit from the top, a histogram of the digits of the keys that
// share the prefix chosen so far, and the digit whose cumulative count reaches the remaining rank. Lanes of a
// warp with equal digits are merged (__match_any_sync) before the shared atomic: concentrated values do not
// serialise on one counter.
template <class T>
__global__ void row_kth_kernel(const T* tile, index_t rows, index_t cols, index_t ld, index_t k, T* out) {
  using Key = typename OrderableKey<T>::type;
  constexpr int BITS = 8 * sizeof(Key);
  __shared__ unsigned long long histogram[256];
  __shared__ Key chosen_prefix;
  __shared__ index_t chosen_remaining;
  const unsigned lane = threadIdx.x & 31u;
  for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* values = tile + row * ld;
    Key prefix = 0, mask = 0;
    index_t remaining = k;
    for (int shift = BITS - 8; shift >= 0; shift -= 8) {
      for (unsigned b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
      __syncthreads();
      for (index_t start = 0; start < cols; start += blockDim.x) {  // uniform bound: whole warps take part
        const index_t j = start + threadIdx.x;
        unsigned digit = 256;  // no digit
        if (j < cols) {
          const Key key = orderable(values[j]);
          if ((key & mask) == prefix) digit = unsigned((key >> shift) & Key(0xFF));
        }
        const unsigned peers = __match_any_sync(FULL_WARP, digit);
        if (digit < 256 && lane == unsigned(__ffs(peers) - 1))
          atomicAdd(&histogram[digit], (unsigned long long)__popc(peers));
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        index_t below = 0;
        unsigned digit = 0;
        while (digit < 255 && below + index_t(histogram[digit]) < remaining) below += index_t(histogram[digit++]);
        chosen_remaining = remaining - below;
        chosen_prefix = prefix | (Key(digit) << shift);
      }
      __syncthreads();
      prefix = chosen_prefix;
      remaining = chosen_remaining;
      mask |= Key(0xFF) << shift;
    }
    if (threadIdx.x == 0) out[row] = from_orderable(prefix);
    __syncthreads();
  }
}

// NumPy's pairwise summation of (a_t - b_t)^2 (pairwise_block and pairwise_half of cpp/numerics.hpp), as NumPy
// recurses: pairwise(n) = pairwise(h) + pairwise(n - h) with h = pairwise_half(n) above PAIRWISE_BLOCK terms. The
// recursion is walked with an explicit stack of fixed size: recursive device calls would take a stack frame per
// level and overflow the GPU's default 1 KB per-thread stack for d > 4096.
template <class T>
__device__ double pairwise_sq_distance(const T* a, const T* b, index_t n) {
  struct Split {
    index_t offset, length;
    double left;     // the left half's sum, once known
    bool has_left;
  };
  Split stack[24];  // depth <= log2(n / 128) + 1 <= 24 for the n < 2^30 that exact_sq_distances admits
  int top = -1;
  index_t offset = 0, length = n;
  for (;;) {
    while (length > PAIRWISE_BLOCK) {  // down the left halves to a block, remembering each split
      stack[++top] = Split{offset, length, 0.0, false};
      length = pairwise_half(length);
    }
    double value = pairwise_block(a + offset, b + offset, length);
    for (;;) {  // up: a left half waits for its right half; a right half completes its split
      if (top < 0) return value;
      Split& split = stack[top];
      const index_t half = pairwise_half(split.length);
      if (!split.has_left) {
        split.left = value;
        split.has_left = true;
        offset = split.offset + half;
        length = split.length - half;
        break;
      }
      value = add_rn(split.left, value);
      --top;
    }
  }
}

template <class T>
__global__ void exact_kernel(const T* Q, const T* R, index_t d, const std::int64_t* q_index,
                             const std::int64_t* r_index, index_t pairs, double* out) {
  for (index_t p = blockIdx.x * index_t(blockDim.x) + threadIdx.x; p < pairs; p += index_t(gridDim.x) * blockDim.x)
    out[p] = pairwise_sq_distance(Q + q_index[p] * d, R + r_index[p] * d, d);
}

constexpr int BALL_ROWS = 32;
constexpr int BALL_COLS = 256;

template <class T>
__global__ void ball_tests_kernel(const T* tile, index_t rows, index_t cols, index_t ld, const T* row_sq,
                                  const T* col_sq, double coefficient, double floor, const double* radius2,
                                  bool per_row, std::int64_t* sure_counts, std::int64_t* pair_rows,
                                  std::int64_t* pair_cols, unsigned long long* pair_count, index_t capacity) {
  __shared__ unsigned row_hits[BALL_ROWS];
  const index_t j = index_t(blockIdx.x) * BALL_COLS + threadIdx.x;
  const index_t row0 = index_t(blockIdx.y) * BALL_ROWS;
  const unsigned lane = threadIdx.x & 31u;
  if (threadIdx.x < BALL_ROWS) row_hits[threadIdx.x] = 0;
  __syncthreads();
  const bool column = j < cols;
  const double column_sq = column ? double(col_sq[j]) : 0.0;
  const double column_radius2 = (per_row && column) ? radius2[j] : 0.0;
  unsigned long long column_hits = 0;
  for (int t = 0; t < BALL_ROWS && row0 + t < rows; ++t) {  // uniform over the block
    const index_t i = row0 + t;
    bool sure = false, undecided = false;
    if (column) {
      const double approx = double(tile[i * ld + j]);
      const double margin = coefficient * (double(row_sq[i]) + column_sq) + floor;
      const double r2 = per_row ? column_radius2 : radius2[i];
      sure = surely_inside(approx, margin, r2);
      undecided = !sure && !surely_outside(approx, margin, r2);
    }
    if (per_row) {
      const unsigned hits = __ballot_sync(FULL_WARP, sure);
      if (lane == 0 && hits != 0) atomicAdd(&row_hits[t], unsigned(__popc(hits)));
    } else {
      column_hits += sure ? 1 : 0;
    }
    const unsigned wanted = __ballot_sync(FULL_WARP, undecided);
    if (wanted != 0) {  // one atomic per warp for its undecided pairs
      unsigned long long base = 0;
      if (lane == 0) base = atomicAdd(pair_count, (unsigned long long)__popc(wanted));
      base = __shfl_sync(FULL_WARP, base, 0);
      if (undecided) {
        const unsigned long long slot = base + unsigned(__popc(wanted & ((1u << lane) - 1u)));
        if (slot < (unsigned long long)capacity) {
          pair_rows[slot] = i;
          pair_cols[slot] = j;
        }
      }
    }
  }
  if (per_row) {
    __syncthreads();
    if (threadIdx.x < BALL_ROWS && row0 + threadIdx.x < rows && row_hits[threadIdx.x] != 0)
      atomicAdd(reinterpret_cast<unsigned long long*>(sure_counts + row0 + threadIdx.x),
                (unsigned long long)row_hits[threadIdx.x]);
  } else if (column && column_hits != 0) {
    atomicAdd(reinterpret_cast<unsigned long long*>(sure_counts + j), column_hits);
  }
}

}  // namespace

void sq_distances(Tile tile, const void* row_sq, const void* col_sq, index_t self_offset, void* stream) {
  if (tile.rows == 0 || tile.cols == 0) return;
  dispatch(tile.dtype, [&](auto zero) {
    using T = decltype(zero);
    sq_distances_kernel<T><<<grid_for(tile.rows * tile.cols, 256), 256, 0, as_stream(stream)>>>(
        static_cast<T*>(tile.data), tile.rows, tile.cols, tile.ld, static_cast<const T*>(row_sq),
        static_cast<const T*>(col_sq), self_offset);
  });
  check_launch("sq_distances");
}

void row_kth_smallest(Tile tile, index_t k, void* out, void* stream) {
  if (tile.rows == 0) return;
  if (k < 1 || k > tile.cols) throw std::invalid_argument("row_kth_smallest: k must be in [1, cols]");
  const unsigned blocks = static_cast<unsigned>(tile.rows < 65535 * 4 ? tile.rows : 65535 * 4);
  dispatch(tile.dtype, [&](auto zero) {
    using T = decltype(zero);
    row_kth_kernel<T><<<blocks, 256, 0, as_stream(stream)>>>(static_cast<const T*>(tile.data), tile.rows, tile.cols,
                                                             tile.ld, k, static_cast<T*>(out));
  });
  check_launch("row_kth_smallest");
}

void exact_sq_distances(const void* Q, const void* R, Dtype dtype, index_t d, const std::int64_t* q_index,
                        const std::int64_t* r_index, index_t pairs, double* out, void* stream) {
  if (pairs == 0) return;
  if (d >= (index_t(1) << 30)) throw std::invalid_argument("exact_sq_distances: d must be below 2^30");
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    exact_kernel<T><<<grid_for(pairs, 128), 128, 0, as_stream(stream)>>>(
        static_cast<const T*>(Q), static_cast<const T*>(R), d, q_index, r_index, pairs, out);
  });
  check_launch("exact_sq_distances");
}

void ball_tests(Tile tile, const void* row_sq, const void* col_sq, double coefficient, double floor,
                const double* radius2, bool per_row, std::int64_t* sure_counts, std::int64_t* pair_rows,
                std::int64_t* pair_cols, unsigned long long* pair_count, index_t capacity, void* stream) {
  if (tile.rows == 0 || tile.cols == 0) return;
  const index_t row_blocks = (tile.rows + BALL_ROWS - 1) / BALL_ROWS;
  if (row_blocks > 65535) throw std::invalid_argument("ball_tests: tile has too many rows");
  const dim3 grid(static_cast<unsigned>((tile.cols + BALL_COLS - 1) / BALL_COLS), static_cast<unsigned>(row_blocks));
  dispatch(tile.dtype, [&](auto zero) {
    using T = decltype(zero);
    ball_tests_kernel<T><<<grid, BALL_COLS, 0, as_stream(stream)>>>(
        static_cast<const T*>(tile.data), tile.rows, tile.cols, tile.ld, static_cast<const T*>(row_sq),
        static_cast<const T*>(col_sq), coefficient, floor, radius2, per_row, sure_counts, pair_rows, pair_cols,
        pair_count, capacity);
  });
  check_launch("ball_tests");
}

}  // namespace gmcuda
