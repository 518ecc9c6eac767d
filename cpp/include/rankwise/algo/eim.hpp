// The greedy of the empirical interpolation method (EIM) on a matrix of snapshots.
//
// Problem: given snapshots S = [f(mu_1), ..., f(mu_N)] (n x N), build a basis
// Q = [q_1, ..., q_M] and points x_1, ..., x_M such that every snapshot is approximated
// by its interpolant I_M f = Q (Q[x, :])^{-1} f[x] to a tolerance.  Barrault, Maday, Nguyen
// & Patera, C. R. Acad. Sci. Paris 339 (2004); Maday, Nguyen, Patera & Pau, CPAA 8 (2009),
// Algorithm 1:
//   R_0 = S;  for k = 1, 2, ...:
//     j_k = argmax_j ||R_{k-1}[:, j]||           (the worst-approximated snapshot, in the
//                                                 norm chosen: l-inf, l2, weighted l2, or the
//                                                 norm of an SPD matrix M; Casenave, Ern &
//                                                 Lelievre, "Variants of the EIM", 2016, S. 3)
//     i_k = argmax_i |R_{k-1}[i, j_k]|           (the magic point)
//     q_k = R_{k-1}[:, j_k] / R_{k-1}[i_k, j_k]  (q_k[i_k] = 1, q_k[i_l] = 0 for l < k)
//     R_k = R_{k-1} - q_k R_{k-1}[i_k, :]        (the interpolation residual of every snapshot)
// R_k[:, j] is exactly S[:, j] - I_k S[:, j] because Q[x, :] is unit lower triangular:
// interpolation on k points is the previous interpolant plus the rank-one correction.
//
// With the l-inf norm, (i_k, j_k) is the entry of largest magnitude of R_{k-1}: the greedy
// is adaptive cross approximation with full pivoting of S, and
// S ~ S[:, J] S[I, J]^{-1} S[I, :] (the symmetric formulation of Casenave et al., S. 2).
//
// Cost per term: one pass over R (read and write, n N entries) that also computes the norms
// for the next choice (eim_update_errors); with an SPD matrix, G = M R is kept alongside and
// updated by the same rank-one correction (M q_k: one product with M per term).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "rankwise/error.hpp"
#include "rankwise/algo/thread_tuner.hpp"
#include "rankwise/linear_op.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

template <class Backend, class T>
struct EimGreedyResult {
    typename Backend::template Matrix<T> Q;  // n x M basis, Q[points[l], k] = (l == k), l <= k
    std::vector<index_t> points;             // the magic points i_1..i_M
    std::vector<index_t> snapshots;          // the selected snapshot columns j_1..j_M
    std::vector<double> errors;              // errors[k] = max_j ||R_k[:, j]||, M + 1 entries
};

struct EimGreedyOptions {
    EimNorm norm = EimNorm::Linf;
    index_t max_terms = 0;  // > 0
    double atol = 0;        // stop when max error <= atol
    double rtol = 0;        //   or <= rtol * (max snapshot norm)
};

// R (n x N) is the residual, overwritten; with snapshot_rows, the view holds R^T (N x n:
// a C-order n x N array) and the kernels run along its rows.  G (same layout, EimNorm::Matrix
// only) holds M R on entry and is updated alongside; w (n entries, EimNorm::Weighted only)
// are the weights.
template <class Backend, class T>
EimGreedyResult<Backend, T> eim_greedy(const Backend& be, MatView<T> R, MatView<T> G,
                                       const T* w, const LinearOp<T>* M,
                                       const EimGreedyOptions& o, bool snapshot_rows = false) {
    const index_t n = snapshot_rows ? R.cols : R.rows, N = snapshot_rows ? R.rows : R.cols;
    require(n >= 1 && N >= 1) << "EIM: empty snapshot matrix (" << n << " x " << N << ")";
    require(o.max_terms >= 1) << "EIM: max_terms must be >= 1, got " << o.max_terms;
    const bool inner = o.norm == EimNorm::Matrix;
    require(!inner || (M != nullptr && G.rows == R.rows && G.cols == R.cols))
        << "EIM: the matrix norm needs M and G = M R";
    require(o.norm != EimNorm::Weighted || w != nullptr) << "EIM: weights missing";

    const index_t max_terms = std::min(o.max_terms, std::min(n, N));
    EimGreedyResult<Backend, T> out{be.template matrix<T>(n, max_terms), {}, {}, {}};
    std::vector<double> err(static_cast<std::size_t>(N));
    auto row = be.template matrix<T>(1, N);
    auto Mq = be.template matrix<T>(inner ? n : 0, 1);
    // residual of snapshot j (n x 1, or 1 x n in the row layout) and values at point i
    auto snapshot = [&](index_t j) {
        return ConstMatView<T>(snapshot_rows ? R.rows_range(j, 1) : R.cols_range(j, 1));
    };
    auto update = [&](const T* q, ConstMatView<T> c, const T* mq) {
        if (snapshot_rows)
            be.template eim_update_errors_rows<T>(R, G, q, c, mq, w, o.norm, err.data());
        else
            be.template eim_update_errors<T>(R, G, q, c, mq, w, o.norm, err.data());
    };

    // one thread or all, whichever is faster now: each term is one synchronizing pass, and
    // on cores shared with other processes a descheduled thread stalls every pass
    ThreadTuner<Backend> tuner(be);
    update(nullptr, ConstMatView<T>{}, nullptr);
    // Stop at rounding level too: once the residual is a few ulps of the snapshots, more
    // terms would interpolate noise (and a rank-r S is reproduced with r terms).
    const double floor_rel = 16 * std::numeric_limits<T>::epsilon();
    double first = 0;
    for (index_t k = 0;; ++k) {
        index_t j = 0;
        for (index_t c = 1; c < N; ++c)
            if (err[c] > err[j]) j = c;
        const double e = err[j];
        require(std::isfinite(e)) << "EIM: the residual is not finite (overflow in the input?)";
        out.errors.push_back(e);
        if (k == 0) first = e;
        if (e == 0 || e <= o.atol || e <= o.rtol * first || e <= floor_rel * first ||
            k == max_terms)
            break;
        const auto [at, pivot] = be.argmax_abs(snapshot(j));
        const index_t i = snapshot_rows ? at.second : at.first;
        if (pivot == T(0)) break;  // the column is zero to rounding: nothing left to interpolate
        // q_k = R[:, j] / R[i, j], with q_k[i] = 1 exactly so that R_k[i, :] = 0 exactly
        auto q = out.Q.view().cols_range(k, 1);
        if (snapshot_rows)
            be.transpose(snapshot(j), q);
        else
            be.copy(snapshot(j), q);
        be.axpby(T(1) / pivot, ConstMatView<T>(q), T(0), q);
        be.set_entry(q, i, index_t(0), T(1));
        // c = R[i, :], the values of every residual at the new point
        if (snapshot_rows)
            be.transpose(ConstMatView<T>(R.cols_range(i, 1)), row.view());
        else
            be.gather_rows(ConstMatView<T>(R), &i, row.view());
        if (inner) M->apply(Trans::No, ConstMatView<T>(q), Mq.view());
        update(q.data, ConstMatView<T>(row.view()), inner ? Mq.view().data : nullptr);
        out.points.push_back(i);
        out.snapshots.push_back(j);
        be.check_interrupt();
        tuner.step();
    }
    out.Q.truncate_cols(static_cast<index_t>(out.points.size()));
    return out;
}

}  // namespace rankwise
