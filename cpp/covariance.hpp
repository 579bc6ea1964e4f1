// The d x d Gram of the columns, C = X^T X = sum_i x_i x_i^T (the dual of the n x n row Gram): what the dual
// form of linear/cosine Vendi and covariance-based metrics need. Blocks of rows are multiplied in the input's
// precision and summed into float64, so rounding grows with the block size, not with n.
#pragma once
#include "kernels.hpp"
#include "tiles.hpp"

namespace gm {

// out (d x d, float64, symmetric) <- X^T X = sum_i x_i x_i^T.
template <class T>
void column_gram(const Matrix<T>& x, double* out, int n_threads);

}  // namespace gm
