// Primitive 1: Gram tiles with the kernel function fused, and what they are turned into:
// the matrix itself, row sums of k^p (whose total is sum_ij k^p), or the product K V.
// `y == nullptr` means Y = X: only tiles on and above the diagonal are computed.
#pragma once
#include "kernels.hpp"
#include "tiles.hpp"

namespace gm {

// out (n x m, row-major) <- K(X, Y).
template <class T>
void gram(const Matrix<T>& x, const Matrix<T>* y, const KernelParams& kp, T* out, int n_threads);

// row_out (n) <- sum_j k(x_i, y_j)^power, float64 sums. Returns false when a negative kernel value met
// a non-integer power (the value is then taken as 0).
template <class T>
bool kernel_row_sums(const Matrix<T>& x, const Matrix<T>* y, const KernelParams& kp, double power, double* row_out,
                     int n_threads);

// out (n x b, float64) <- K(X, Y) V with V (m x b, row-major).
template <class T>
void kernel_matvec(const Matrix<T>& x, const Matrix<T>* y, const KernelParams& kp, const T* v, index_t b, double* out,
                   int n_threads);

}  // namespace gm
