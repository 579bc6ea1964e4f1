// One tiled traversal of the (X, Y) pair matrix, shared by every primitive.
//
// The traversal computes a tile of dot products X_I . Y_J^T with one GEMM into a per-thread buffer and
// hands it to a handler; the handler decides what the tile becomes (kernel values written out, reduced to
// sums, multiplied into a block of vectors, ...). This is the FAISS split between the traversal and the
// result handler: one loop, several epilogues.
//
// Handler interface:
//   void consume(const TileView<T>& tile, int thread);   // tile.values is writable scratch
// With symmetric traversal (Y is X) only tiles with J >= I are visited; a handler that needs the
// lower triangle mirrors off-diagonal tiles itself (tile.mirrored is true for those). Diagonal tiles
// (I == J) come from one SYRK, half the GEMM's flops, with their lower triangle copied from the upper:
// handlers see them whole and exactly symmetric.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "blas.hpp"
#include "kernels.hpp"
#include "parallel.hpp"

namespace gm {

template <class T>
struct Matrix {  // a row-major, C-contiguous matrix that the engine reads but never writes
  const T* data;
  index_t rows;
  index_t cols;
  const T* row(index_t i) const { return data + i * cols; }
};

template <class T>
struct TileView {
  T* values;          // rows x cols, leading dimension ld
  index_t ld;
  index_t row_begin;  // first row of X in the tile
  index_t col_begin;  // first row of Y in the tile
  index_t rows;
  index_t cols;
  bool diagonal;      // symmetric traversal, I == J
  bool mirrored;      // symmetric traversal, I < J: the tile also stands for its transpose
};

struct TileShape {
  index_t rows = 512;
  index_t cols = 512;
};

// Tiles big enough for an efficient GEMM, small enough to stay in cache for the epilogue. Square 512 x 512
// tiles run OpenBLAS's single-threaded sgemm at 94 GFLOP/s per core here with d = 2048, against 80 for
// 256 x 1024 (bench/RESULTS.md); symmetric traversal needs square tiles anyway, so that (I, J) and (J, I)
// coincide.
inline TileShape default_tile_shape(index_t n, index_t m, bool symmetric) {
  TileShape shape;
  shape.rows = std::min<index_t>(shape.rows, std::max<index_t>(n, 1));
  shape.cols = std::min<index_t>(shape.cols, std::max<index_t>(m, 1));
  if (symmetric) shape.rows = shape.cols = std::min(shape.rows, shape.cols);
  return shape;
}

// The lower triangle of a square tile from its upper one (after a syrk), so that handlers see a full,
// exactly symmetric diagonal tile.
template <class T>
void mirror_upper_triangle(T* values, index_t rows, index_t ld) {
  for (index_t i = 1; i < rows; ++i)
    for (index_t j = 0; j < i; ++j) values[i * ld + j] = values[j * ld + i];
}

template <class T, class Handler>
void for_each_tile(const Matrix<T>& x, const Matrix<T>& y, bool symmetric, const TileShape& shape, int n_threads,
                   Handler& handler) {
  const index_t row_blocks = (x.rows + shape.rows - 1) / shape.rows;
  const index_t col_blocks = (y.rows + shape.cols - 1) / shape.cols;
  // Tasks in (wrapped) diagonal order: tiles handed out one after the other touch different row blocks and
  // different column blocks, so handlers that lock per block (top-k heaps, K V sums) rarely wait.
  std::vector<std::pair<index_t, index_t>> tasks;
  tasks.reserve(symmetric ? row_blocks * (row_blocks + 1) / 2 : row_blocks * col_blocks);
  if (symmetric) {
    for (index_t offset = 0; offset < col_blocks; ++offset)
      for (index_t bi = 0; bi + offset < col_blocks; ++bi) tasks.emplace_back(bi, bi + offset);
  } else {
    for (index_t offset = 0; offset < col_blocks; ++offset)
      for (index_t bi = 0; bi < row_blocks; ++bi) tasks.emplace_back(bi, (bi + offset) % col_blocks);
  }

  const int workers = std::max(1, std::min({n_threads, thread_cap(), static_cast<int>(tasks.size())}));
  // Every thread's tile buffer up front, on the calling thread: a shortfall is a std::bad_alloc (a Python
  // MemoryError) before any work starts.
  std::vector<std::vector<T>> buffers(workers, std::vector<T>(static_cast<std::size_t>(shape.rows * shape.cols)));
  parallel_for(tasks.size(), workers, [&](std::size_t t, int thread) {
    std::vector<T>& buffer = buffers[thread];
    const auto [bi, bj] = tasks[t];
    TileView<T> tile;
    tile.row_begin = bi * shape.rows;
    tile.col_begin = bj * shape.cols;
    tile.rows = std::min(shape.rows, x.rows - tile.row_begin);
    tile.cols = std::min(shape.cols, y.rows - tile.col_begin);
    tile.ld = shape.cols;
    tile.values = buffer.data();
    tile.diagonal = symmetric && bi == bj;
    tile.mirrored = symmetric && bi != bj;
    if (tile.diagonal) {  // X_I X_I^T: half the flops of the GEMM, then the lower triangle mirrored
      syrk_upper_nt(static_cast<blas_int>(tile.rows), static_cast<blas_int>(x.cols), x.row(tile.row_begin),
                    static_cast<blas_int>(x.cols), tile.values, static_cast<blas_int>(tile.ld));
      mirror_upper_triangle(tile.values, tile.rows, tile.ld);
    } else {
      gemm_nt(static_cast<blas_int>(tile.rows), static_cast<blas_int>(tile.cols), static_cast<blas_int>(x.cols),
              x.row(tile.row_begin), static_cast<blas_int>(x.cols), y.row(tile.col_begin),
              static_cast<blas_int>(y.cols), tile.values, static_cast<blas_int>(tile.ld));
    }
    handler.consume(tile, thread);
  });
}

}  // namespace gm
