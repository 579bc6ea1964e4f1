// The small dense symmetric eigensolver at the end of every spectral method (LAPACK ?syevd, eigenvalues only).
#pragma once
#include "kernels.hpp"

namespace gm {

// Eigenvalues (ascending) of the symmetric n x n matrix a (row-major; only the upper triangle is read,
// and a is overwritten). Runs in T's precision on n_threads BLAS threads. Returns LAPACK's info (0 = ok).
template <class T>
int symmetric_eigenvalues(T* a, index_t n, T* eigenvalues, int n_threads);

}  // namespace gm
