// The GPU engine's entry points: plain C++ declarations (no CUDA types beyond an opaque stream), so that the
// pybind11 bindings compile with the host compiler and only the .cu files go through nvcc.
//
// Division of labour (see python/genmetrics/_cuda_engine.py): the tile products are cuBLAS GEMMs issued by
// CuPy into a scratch tile on the same stream; the functions here are the epilogues that run on that tile
// while it is hot in L2 (kernel functions, float64 power sums, squared distances, per-row k-th values, ball
// tests) and the float64 re-check of the comparisons that the tile's rounding cannot decide.
#pragma once
#include <cstdint>

#include "numerics.hpp"  // cpp/numerics.hpp: the kernel codes and numerical rules shared with the CPU engine

namespace gmcuda {

using index_t = std::int64_t;
using gm::KernelKind;

enum class Dtype : int { Float32 = 0, Float64 = 1 };

struct KernelArgs {
  KernelKind kind = KernelKind::Cosine;
  double bandwidth = 1.0;
  double gamma = 1.0;
  double coef0 = 1.0;
  int degree = 3;
};

// A tile of `rows` x `cols` values with leading dimension `ld`, in device memory, of type `dtype`.
struct Tile {
  void* data = nullptr;
  Dtype dtype = Dtype::Float32;
  index_t rows = 0;
  index_t cols = 0;
  index_t ld = 0;
};

// tile[i, j] <- k(x_i, y_j) given tile[i, j] = x_i . y_j. x_factor / y_factor (tile's dtype): squared norms
// (rbf, laplacian) or inverse norms (cosine), null otherwise. diagonal >= 0: the tile's element (i, i + diagonal)
// pairs a point with itself and is set to 1 exactly for kernels with k(x, x) = 1.
void apply_kernel(Tile tile, const KernelArgs& kernel, const void* x_factor, const void* y_factor, index_t diagonal,
                  void* stream);

// row_out[i] += sum_j tile[i, j]^power and col_out[j] += sum_i tile[i, j]^power (either may be null), the
// powers and sums in float64, in a fixed order (deterministic). A negative value under a non-integer power
// counts as 0 and sets *negative_flag to 1. `scratch` holds at least power_sums_scratch(rows, cols) doubles.
index_t power_sums_scratch(index_t rows, index_t cols);
void power_sums(Tile tile, double power, double* row_out, double* col_out, int* negative_flag, double* scratch,
                void* stream);

// tile[i, j] <- row_sq[i] + col_sq[j] - 2 tile[i, j] (approximate squared distances, tile's dtype);
// self_offset >= 0: the element (i, i + self_offset) is a point against itself and becomes +inf.
void sq_distances(Tile tile, const void* row_sq, const void* col_sq, index_t self_offset, void* stream);

// out[i] = the k-th smallest value of row i (1 <= k <= cols), exact (radix selection on the bit patterns),
// in the tile's dtype.
void row_kth_smallest(Tile tile, index_t k, void* out, void* stream);

// out[p] = sum_t (Q[q_index[p], t] - R[r_index[p], t])^2 in float64, summed in NumPy's pairwise order, so
// that it equals np.sum((q - r)**2, axis=-1) bit for bit (cpp/neighbors.cpp computes the same on the CPU).
void exact_sq_distances(const void* Q, const void* R, Dtype dtype, index_t d, const std::int64_t* q_index,
                        const std::int64_t* r_index, index_t pairs, double* out, void* stream);

// Ball tests on a tile of approximate squared distances, whose error against the float64 distance is at most
// margin(i, j) = coefficient * (row_sq[i] + col_sq[j]) + floor (row_sq / col_sq in the tile's dtype).
// radius2 holds one squared radius per column (per_row = true: each row is a query against the balls of the
// columns) or per row (per_row = false: each column is a query against the balls of the rows); the radius and
// its ball belong to the same point. Pairs surely inside (approx + margin < radius2) add 1 to sure_counts of
// the query; pairs that the margin cannot decide are appended to (pair_rows, pair_cols) through *pair_count,
// which keeps counting past `capacity` (the caller then grows the lists and repeats the tile).
void ball_tests(Tile tile, const void* row_sq, const void* col_sq, double coefficient, double floor,
                const double* radius2, bool per_row, std::int64_t* sure_counts, std::int64_t* pair_rows,
                std::int64_t* pair_cols, unsigned long long* pair_count, index_t capacity, void* stream);

// The CUDA runtime's view of the machine, for gm.backends(): device count (0 with a reason when none).
int device_count(const char** reason);

// The CUDA runtime version this module was built with (1000 major + 10 minor): the driver must support it.
int built_runtime_version();

}  // namespace gmcuda
