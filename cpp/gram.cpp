#include "gram.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace gm {
namespace {

// The kernel epilogue every Gram handler starts with: dot products -> kernel values, and the exact
// diagonal for kernels with k(x, x) = 1 (rounding in |x|^2 + |x|^2 - 2 x.x must not leak into it).
template <class T>
struct KernelEpilogue {
  KernelParams kp;
  bool symmetric;
  std::vector<T> x_factor, y_factor;  // y_factor stays empty when Y is X: x_factor serves both

  KernelEpilogue(const Matrix<T>& x, const Matrix<T>& y, bool symmetric_, const KernelParams& params, int n_threads)
      : kp(params), symmetric(symmetric_), x_factor(row_factors(x.data, x.rows, x.cols, params.kind, n_threads)) {
    if (!symmetric) y_factor = row_factors(y.data, y.rows, y.cols, params.kind, n_threads);
  }

  void operator()(const TileView<T>& tile) const {
    const std::vector<T>& y_of_tile = symmetric ? x_factor : y_factor;
    apply_kernel(tile.values, tile.rows, tile.cols, tile.ld, kp,
                 x_factor.empty() ? nullptr : x_factor.data() + tile.row_begin,
                 y_of_tile.empty() ? nullptr : y_of_tile.data() + tile.col_begin);
    if (tile.diagonal && unit_diagonal(kp.kind))
      for (index_t i = 0; i < tile.rows; ++i) tile.values[i * tile.ld + i] = T(1);
  }
};

template <class T>
struct GramWriter {
  const KernelEpilogue<T>& kernel;
  T* out;
  index_t out_cols;

  void consume(const TileView<T>& tile, int) {
    kernel(tile);
    for (index_t i = 0; i < tile.rows; ++i)
      std::memcpy(out + (tile.row_begin + i) * out_cols + tile.col_begin, tile.values + i * tile.ld,
                  sizeof(T) * tile.cols);
    if (tile.mirrored)
      for (index_t j = 0; j < tile.cols; ++j) {
        T* dst = out + (tile.col_begin + j) * out_cols + tile.row_begin;
        for (index_t i = 0; i < tile.rows; ++i) dst[i] = tile.values[i * tile.ld + j];
      }
  }
};

template <class T>
struct RowSumReducer {
  const KernelEpilogue<T>& kernel;
  double power;
  index_t n;
  std::vector<std::vector<double>> per_thread;  // threads add into their own sums: no locks
  std::vector<char> power_ok;

  RowSumReducer(const KernelEpilogue<T>& k, double p, index_t rows, int n_threads)
      : kernel(k), power(p), n(rows), per_thread(n_threads), power_ok(n_threads, 1) {}

  void consume(const TileView<T>& tile, int thread) {
    kernel(tile);
    if (!apply_power(tile.values, tile.rows, tile.cols, tile.ld, power)) power_ok[thread] = 0;
    std::vector<double>& sums = per_thread[thread];
    if (sums.empty()) sums.assign(n, 0.0);
    add_row_sums(tile.values, tile.rows, tile.cols, tile.ld, sums.data() + tile.row_begin);
    if (tile.mirrored) add_col_sums(tile.values, tile.rows, tile.cols, tile.ld, sums.data() + tile.col_begin);
  }

  bool finish(double* row_out) const {
    std::fill(row_out, row_out + n, 0.0);
    for (const auto& sums : per_thread)
      if (!sums.empty())
        for (index_t i = 0; i < n; ++i) row_out[i] += sums[i];
    return std::all_of(power_ok.begin(), power_ok.end(), [](char ok) { return ok != 0; });
  }
};

template <class T>
struct MatVecAccumulator {
  const KernelEpilogue<T>& kernel;
  const T* v;
  index_t b;
  double* out;
  index_t block_rows;
  std::vector<std::mutex> block_locks;        // one per block of output rows
  std::vector<std::vector<T>> per_thread_product;

  MatVecAccumulator(const KernelEpilogue<T>& k, const T* v_, index_t b_, double* out_, index_t n, index_t block,
                    int n_threads)
      : kernel(k), v(v_), b(b_), out(out_), block_rows(block), block_locks((n + block - 1) / block),
        per_thread_product(n_threads) {}

  void add_product(index_t first_row, index_t rows, const T* product) {
    std::lock_guard<std::mutex> lock(block_locks[first_row / block_rows]);
    double* dst = out + first_row * b;
    for (index_t k = 0; k < rows * b; ++k) dst[k] += double(product[k]);
  }

  void consume(const TileView<T>& tile, int thread) {
    kernel(tile);
    std::vector<T>& product = per_thread_product[thread];
    product.resize(std::max(tile.rows, tile.cols) * b);
    // K_IJ V_J into the rows of block I
    gemm_nn(blas_int(tile.rows), blas_int(b), blas_int(tile.cols), tile.values, blas_int(tile.ld),
            v + tile.col_begin * b, blas_int(b), product.data(), blas_int(b));
    add_product(tile.row_begin, tile.rows, product.data());
    if (tile.mirrored) {  // K_JI V_I = K_IJ^T V_I into the rows of block J
      gemm_tn(blas_int(tile.cols), blas_int(b), blas_int(tile.rows), tile.values, blas_int(tile.ld),
              v + tile.row_begin * b, blas_int(b), product.data(), blas_int(b));
      add_product(tile.col_begin, tile.cols, product.data());
    }
  }
};

// The setup every Gram primitive shares: Y = X or not, the kernel epilogue, the tile shape.
template <class T>
struct GramPass {
  const Matrix<T>& x;
  bool symmetric;
  const Matrix<T>& other;
  TileShape shape;
  KernelEpilogue<T> kernel;
  int n_threads;

  GramPass(const Matrix<T>& x_, const Matrix<T>* y, const KernelParams& kp, int threads)
      : x(x_), symmetric(y == nullptr), other(y == nullptr ? x_ : *y),
        shape(default_tile_shape(x_.rows, other.rows, symmetric)), kernel(x_, other, symmetric, kp, threads),
        n_threads(std::max(threads, 1)) {}

  template <class Handler>
  void run(Handler& handler) {
    for_each_tile(x, other, symmetric, shape, n_threads, handler);
  }
};

}  // namespace

template <class T>
void gram(const Matrix<T>& x, const Matrix<T>* y, const KernelParams& kp, T* out, int n_threads) {
  GramPass<T> pass(x, y, kp, n_threads);
  GramWriter<T> writer{pass.kernel, out, pass.other.rows};
  pass.run(writer);
}

template <class T>
bool kernel_row_sums(const Matrix<T>& x, const Matrix<T>* y, const KernelParams& kp, double power, double* row_out,
                     int n_threads) {
  GramPass<T> pass(x, y, kp, n_threads);
  RowSumReducer<T> reducer(pass.kernel, power, x.rows, pass.n_threads);
  pass.run(reducer);
  return reducer.finish(row_out);
}

template <class T>
void kernel_matvec(const Matrix<T>& x, const Matrix<T>* y, const KernelParams& kp, const T* v, index_t b, double* out,
                   int n_threads) {
  GramPass<T> pass(x, y, kp, n_threads);
  std::fill(out, out + x.rows * b, 0.0);
  MatVecAccumulator<T> acc(pass.kernel, v, b, out, x.rows, pass.shape.rows, pass.n_threads);
  pass.run(acc);
}

#define GM_INSTANTIATE(T)                                                                                             \
  template void gram<T>(const Matrix<T>&, const Matrix<T>*, const KernelParams&, T*, int);                            \
  template bool kernel_row_sums<T>(const Matrix<T>&, const Matrix<T>*, const KernelParams&, double, double*, int);    \
  template void kernel_matvec<T>(const Matrix<T>&, const Matrix<T>*, const KernelParams&, const T*, index_t, double*, \
                                 int);
GM_INSTANTIATE(float)
GM_INSTANTIATE(double)

}  // namespace gm
