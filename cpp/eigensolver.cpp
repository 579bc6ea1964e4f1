#include "eigensolver.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <mutex>

namespace gm {
namespace {

// The tile loops call BLAS from their own threads with BLAS single-threaded; the eigensolver is one LAPACK
// call, so it gets the threads for its duration. The mutex keeps concurrent solves from fighting over it.
std::mutex blas_threads_mutex;

struct BlasThreads {
  std::lock_guard<std::mutex> lock{blas_threads_mutex};
  explicit BlasThreads(int n) { scipy_openblas_set_num_threads(n); }
  ~BlasThreads() { scipy_openblas_set_num_threads(1); }
};

int syevd(float* a, index_t n, float* w) {
  return scipy_LAPACKE_ssyevd(LAPACK_ROW_MAJOR, 'N', 'U', lapack_int(n), a, lapack_int(n), w);
}
int syevd(double* a, index_t n, double* w) {
  return scipy_LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', lapack_int(n), a, lapack_int(n), w);
}

}  // namespace

template <class T>
int symmetric_eigenvalues(T* a, index_t n, T* eigenvalues, int n_threads) {
  BlasThreads threads(n_threads);
  return syevd(a, n, eigenvalues);
}

template int symmetric_eigenvalues<float>(float*, index_t, float*, int);
template int symmetric_eigenvalues<double>(double*, index_t, double*, int);

}  // namespace gm
