#include "covariance.hpp"

#include <algorithm>
#include <vector>

namespace gm {

// Tiles of C (column blocks I <= J) are independent tasks; each walks all row blocks, multiplies
// A_rows,I^T A_rows,J with one GEMM in T and adds the product into its own float64 tile: no locks, and
// GEMM (much faster than SYRK in OpenBLAS) on square-ish shapes.
template <class T>
void column_gram(const Matrix<T>& x, double* out, int n_threads) {
  const index_t d = x.cols;
  const index_t tile = std::min<index_t>(d, 384);
  const index_t block_rows = 4096;
  const index_t col_blocks = (d + tile - 1) / tile;
  std::vector<std::pair<index_t, index_t>> tasks;
  for (index_t bi = 0; bi < col_blocks; ++bi)
    for (index_t bj = bi; bj < col_blocks; ++bj) tasks.emplace_back(bi, bj);
  std::vector<std::vector<T>> buffers(std::max(n_threads, 1));
  parallel_for(tasks.size(), n_threads, [&](std::size_t t, int thread) {
    std::vector<T>& product = buffers[thread];
    product.resize(tile * tile);
    const auto [bi, bj] = tasks[t];
    const index_t i0 = bi * tile, j0 = bj * tile;
    const index_t ni = std::min(tile, d - i0), nj = std::min(tile, d - j0);
    std::vector<double> sum(ni * nj, 0.0);
    for (index_t r0 = 0; r0 < x.rows; r0 += block_rows) {
      const index_t rows = std::min(block_rows, x.rows - r0);
      if (bi == bj) {  // a diagonal tile is symmetric: its upper triangle by SYRK, half the flops
        syrk_upper_tn(blas_int(ni), blas_int(rows), x.row(r0) + i0, blas_int(d), product.data(), blas_int(nj));
        for (index_t i = 0; i < ni; ++i)
          for (index_t j = i; j < nj; ++j) sum[i * nj + j] += double(product[i * nj + j]);
      } else {
        gemm_tn(blas_int(ni), blas_int(nj), blas_int(rows), x.row(r0) + i0, blas_int(d), x.row(r0) + j0, blas_int(d),
                product.data(), blas_int(nj));
        for (index_t k = 0; k < ni * nj; ++k) sum[k] += double(product[k]);
      }
    }
    for (index_t i = 0; i < ni; ++i)
      for (index_t j = bi == bj ? i : 0; j < nj; ++j) {
        out[(i0 + i) * d + j0 + j] = sum[i * nj + j];
        out[(j0 + j) * d + i0 + i] = sum[i * nj + j];
      }
  });
}

template void column_gram<float>(const Matrix<float>&, double*, int);
template void column_gram<double>(const Matrix<double>&, double*, int);

}  // namespace gm
