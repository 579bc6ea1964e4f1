// Kernel functions applied to a tile of dot products, and the per-tile reductions that follow them.
// Every function here has float and double overloads, compiled once per CPU feature level
// (target_clones) and chosen at load time: the installed module targets a portable baseline.
#pragma once
#include <cstdint>
#include <vector>

#include "numerics.hpp"

namespace gm {

using index_t = std::int64_t;

struct KernelParams {
  KernelKind kind = KernelKind::Cosine;
  double bandwidth = 1.0;  // sigma of rbf / laplacian
  double gamma = 1.0;      // polynomial scale
  double coef0 = 1.0;      // polynomial offset
  int degree = 3;          // polynomial degree
};

// What the kernel needs of each row besides the dot products: squared norms (rbf, laplacian) or
// inverse norms (cosine), computed with float64 accumulation and stored in the tile's precision.
template <class T>
std::vector<T> row_factors(const T* data, index_t rows, index_t cols, KernelKind kind, int n_threads);

// tile[i, j] <- k(x_i, y_j) given tile[i, j] = x_i . y_j, x_factor/y_factor from row_factors.
void apply_kernel(float* tile, index_t rows, index_t cols, index_t ld, const KernelParams& kp, const float* x_factor,
                  const float* y_factor);
void apply_kernel(double* tile, index_t rows, index_t cols, index_t ld, const KernelParams& kp, const double* x_factor,
                  const double* y_factor);

// tile[i, j] <- tile[i, j] ** power. Returns false when a negative value met a non-integer power.
bool apply_power(float* tile, index_t rows, index_t cols, index_t ld, double power);
bool apply_power(double* tile, index_t rows, index_t cols, index_t ld, double power);

// out[i] += sum_j tile[i, j] (row_out) and out[j] += sum_i tile[i, j] (col_out), float64 sums.
void add_row_sums(const float* tile, index_t rows, index_t cols, index_t ld, double* row_out);
void add_row_sums(const double* tile, index_t rows, index_t cols, index_t ld, double* row_out);
void add_col_sums(const float* tile, index_t rows, index_t cols, index_t ld, double* col_out);
void add_col_sums(const double* tile, index_t rows, index_t cols, index_t ld, double* col_out);

}  // namespace gm
