// Row-major GEMM wrappers over the scipy-openblas32 CBLAS (symbols prefixed `scipy_`).
// The engine parallelises over tiles itself, so each call runs single-threaded inside a worker.
#pragma once
#include <cblas.h>

namespace gm {

using blas_int = int;

// C (m x n) = alpha * A (m x k) * B(n x k)^T + beta * C
inline void gemm_nt(blas_int m, blas_int n, blas_int k, const float* a, blas_int lda, const float* b, blas_int ldb,
                    float* c, blas_int ldc, float beta = 0.f) {
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_nt(blas_int m, blas_int n, blas_int k, const double* a, blas_int lda, const double* b, blas_int ldb,
                    double* c, blas_int ldc, double beta = 0.) {
  scipy_cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1., a, lda, b, ldb, beta, c, ldc);
}
// C (m x n) = A (m x k) * B (k x n) + beta * C
inline void gemm_nn(blas_int m, blas_int n, blas_int k, const float* a, blas_int lda, const float* b, blas_int ldb,
                    float* c, blas_int ldc, float beta = 0.f) {
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_nn(blas_int m, blas_int n, blas_int k, const double* a, blas_int lda, const double* b, blas_int ldb,
                    double* c, blas_int ldc, double beta = 0.) {
  scipy_cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1., a, lda, b, ldb, beta, c, ldc);
}
// C (m x n) = A(k x m)^T * B (k x n) + beta * C
inline void gemm_tn(blas_int m, blas_int n, blas_int k, const float* a, blas_int lda, const float* b, blas_int ldb,
                    float* c, blas_int ldc, float beta = 0.f) {
  scipy_cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.f, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_tn(blas_int m, blas_int n, blas_int k, const double* a, blas_int lda, const double* b, blas_int ldb,
                    double* c, blas_int ldc, double beta = 0.) {
  scipy_cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1., a, lda, b, ldb, beta, c, ldc);
}

// Upper triangle of C (n x n) = A A^T with A (n x k), row-major: the diagonal tiles of a symmetric traversal.
inline void syrk_upper_nt(blas_int n, blas_int k, const float* a, blas_int lda, float* c, blas_int ldc) {
  scipy_cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1.f, a, lda, 0.f, c, ldc);
}
inline void syrk_upper_nt(blas_int n, blas_int k, const double* a, blas_int lda, double* c, blas_int ldc) {
  scipy_cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1., a, lda, 0., c, ldc);
}
// Upper triangle of C (n x n) = A^T A with A (k x n), row-major: half the flops of the GEMM.
inline void syrk_upper_tn(blas_int n, blas_int k, const float* a, blas_int lda, float* c, blas_int ldc) {
  scipy_cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.f, a, lda, 0.f, c, ldc);
}
inline void syrk_upper_tn(blas_int n, blas_int k, const double* a, blas_int lda, double* c, blas_int ldc) {
  scipy_cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1., a, lda, 0., c, ldc);
}

inline void blas_single_threaded() { scipy_openblas_set_num_threads(1); }

// OpenBLAS allocates its buffer (and thread-local data) at a thread's first GEMM and ends the process (exit(1))
// when it cannot. One small product of each precision at import does that for the importing thread, while memory
// is plentiful, rather than in the middle of a call under a tight address-space limit.
inline void blas_warm_up() {
  float sa[4] = {1.f, 0.f, 0.f, 1.f}, sc[4];
  double da[4] = {1., 0., 0., 1.}, dc[4];
  gemm_nt(2, 2, 2, sa, 2, sa, 2, sc, 2);
  gemm_nt(2, 2, 2, da, 2, da, 2, dc, 2);
}

}  // namespace gm
