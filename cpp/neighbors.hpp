// Primitive 3: exact k-nearest-neighbour and per-reference radius queries (Euclidean).
//
// Both run on the shared tile traversal (tiles.hpp): a GEMM tile of dot products becomes approximate squared
// distances |q|^2 + |r|^2 - 2 q.r in the tile's precision, and a handler collects what each query needs
// (top-k candidates, counts inside the reference balls, the nearest reference). Every decision that the
// approximate value cannot settle, because it lies within a proven rounding margin of its threshold, is
// re-checked with the float64 distance computed from explicit differences, so results equal the float64
// answer (see exact_sq_distance for the exact definition).
#pragma once
#include <cstdint>

#include "tiles.hpp"

namespace gm {

// A point set as the engine sees it. `tile` (the rows shifted by a common center and multiplied by a power
// of two, `scale`) feeds the GEMM tiles; `exact` (the values the caller gave, same shape) feeds the float64
// re-checks. Both sets of a query share the center and the scale.
template <class T>
struct PointSet {
  Matrix<T> tile;
  const T* exact;
  double scale = 1.0;
};

// For every query (row of `queries`), its k nearest rows of `refs`: distance (float64) and index, ascending,
// ties by the lower index. refs == nullptr: the queries against themselves, each point excluded by index.
template <class T>
void knn(const PointSet<T>& queries, const PointSet<T>* refs, index_t k, double* distance, std::int64_t* index,
         int n_threads);

// What one direction of a ball query produces: queries from one set, references from the other.
// Outputs left null are not computed.
struct BallSide {
  const double* ref_radius = nullptr;   // one radius per reference: count d(q, r) < radius_r (<= if inclusive)
  std::int64_t* counts = nullptr;       // per query (needs ref_radius)
  double* nearest_distance = nullptr;   // per query: the nearest reference, ties by the lower index
  std::int64_t* nearest_index = nullptr;
  const double* ref_weight = nullptr;   // per reference: max over weight_r >= 0 of weight_r / d(q, r)
  double* max_ratio = nullptr;          // per query (the realism score); inf where d = 0; 0 if no weight >= 0
  bool wanted() const { return counts != nullptr || nearest_distance != nullptr || max_ratio != nullptr; }
};

// One traversal of the (a, b) pairs serving both directions: `a_side` has the rows of `a` as queries and the
// rows of `b` as references, `b_side` the other way round.
template <class T>
void ball_query(const PointSet<T>& a, const PointSet<T>& b, bool inclusive, const BallSide& a_side,
                const BallSide& b_side, int n_threads);

}  // namespace gm
