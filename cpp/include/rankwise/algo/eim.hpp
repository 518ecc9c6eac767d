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
// Cost per term: one pass over R that computes the norms for the next choice; with an SPD
// matrix, G = M R is kept alongside and updated by the same rank-one correction (M q_k: one
// product with M per term).  The rank-one updates are deferred by blocks of `block` terms
// (Fortran layout): within a block R holds R_{k0} and the pass evaluates
// R_k = R_{k0} - q_{k0+1} c_{k0+1} - ... - q_k c_k entry by entry, in that order, without
// storing it (the terms' columns of Q stay in cache), and only the block's last pass writes
// R_k back.  A term then costs one read of R instead of a read and a write, plus a write
// every `block` terms; the arithmetic, hence every value, is that of one update per term.
// With the max norm even the read is mostly avoided: the next term needs only the largest
// entry of R_k, and the maxima of |R_{k0}| by chunks of rows (from the last full pass) plus
// |c_l| max |q_l| over the chunk bound every chunk; only the chunks whose bound reaches the
// largest value found are evaluated (branch and bound; exact, ties included).
// With the (weighted) l2 norm the next choice needs every column's norm, but not the
// residual itself: with u = R_{k0} - sum_l q_l c_l (the pending terms in exact arithmetic),
//   ||u - c q||^2 = ||u||^2 - 2 c <q, u> + c^2 ||q||^2,
//   <q, u> = q^T R_{k0} - sum_l (q^T q_l) c_l,
// so a term costs one read-only product q^T R_{k0} (in double).  The norms so updated differ
// from the values of one update per term by rounding, bounded per column (the recurrence's
// rounding, and the distance between the rounded residual and u, at most
// (b + 1) eps ||R_{k0}[:, j]|| + sum_l |c_l| ||q_l|| per entry sum); the columns whose bound
// may reach the largest are evaluated exactly (the pass's arithmetic on that column alone),
// so the choice and the error history are those of one update per term, bit for bit.
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

// eim_block_max gives up (and R is written back) when more than this fraction of the row
// chunks would need evaluating: a full pass is then about as cheap.
inline constexpr double kEimMaxFraction = 0.25;

struct EimGreedyOptions {
    EimNorm norm = EimNorm::Linf;
    index_t max_terms = 0;  // > 0
    double atol = 0;        // stop when max error <= atol
    double rtol = 0;        //   or <= rtol * (max snapshot norm)
    index_t block = 1;      // terms per write-back of R (Fortran layout; >= 1)
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

    require(o.block >= 1) << "EIM: block must be >= 1, got " << o.block;
    const index_t max_terms = std::min(o.max_terms, std::min(n, N));
    // deferred terms: the row layout updates R at every term
    const index_t block = snapshot_rows ? 1 : std::min(o.block, max_terms);
    EimGreedyResult<Backend, T> out{be.template matrix<T>(n, max_terms), {}, {}, {}};
    std::vector<double> err(static_cast<std::size_t>(N));
    // rows l < b: c_l = R_{l-1}[i_l, :] of the pending terms, whose q_l are the last b
    // columns of Q (and M q_l those of MQ)
    auto C = be.template matrix<T>(block, N);
    auto MQ = be.template matrix<T>(inner ? n : 0, inner ? block : 0);
    index_t k0 = 0;  // first pending term
    auto pending_Q = [&](index_t b) { return ConstMatView<T>(out.Q.view().cols_range(k0, b)); };
    auto pending_C = [&](index_t b) { return ConstMatView<T>(C.view().rows_range(0, b)); };
    auto pending_MQ = [&](index_t b) {
        return ConstMatView<T>(MQ.view().cols_range(0, inner ? b : 0));
    };
    // Linf in the Fortran layout: between write-backs only the largest entry is needed
    // (the worst snapshot is the column holding it), found from bounds by row chunk
    // (eim_block_max) instead of a pass; chunk_max is refreshed by every full pass.
    const bool bounded = o.norm == EimNorm::Linf && !snapshot_rows && block > 1;
    typename Backend::EimBounds chunk_max;
    // (weighted) l2 in the Fortran layout: between write-backs the norms are updated from
    // one product q^T R per term (see the top); per column the estimate of the squared
    // norm, the bound on its rounding, and ||R_{k0}[:, j]|| + sum_l |c_l| ||q_l||
    const bool projected =
        (o.norm == EimNorm::L2 || o.norm == EimNorm::Weighted) && !snapshot_rows && block > 1;
    std::vector<double> sq, sq_err, spread, proj, qdot, qnorm;
    if (projected) {
        for (auto* v : {&sq, &sq_err, &spread, &proj}) v->resize(static_cast<std::size_t>(N));
        qdot.resize(static_cast<std::size_t>(block));
        qnorm.resize(static_cast<std::size_t>(block));
    }
    index_t j = 0;  // the worst snapshot and its error, for the next term
    double e = 0;
    auto full_pass = [&](index_t b, bool write_back) {
        if (snapshot_rows) {
            // block = 1: at most the one term k0 pending
            const T* q = b > 0 ? out.Q.view().col(k0) : nullptr;
            const T* mq = inner && b > 0 ? MQ.view().data : nullptr;
            be.template eim_update_errors_rows<T>(R, G, q, pending_C(b), mq, w, o.norm,
                                                  err.data());
        } else {
            be.template eim_block_errors<T>(R, G, pending_Q(b), pending_MQ(b), pending_C(b), w,
                                            o.norm, write_back, err.data(),
                                            bounded ? &chunk_max : nullptr);
        }
        j = 0;
        for (index_t c = 1; c < N; ++c)
            if (err[c] > err[j]) j = c;
        e = err[j];
    };

    constexpr double eps64 = std::numeric_limits<double>::epsilon();
    const double epsT = std::numeric_limits<T>::epsilon();
    // after a pass that wrote R back (nothing pending): the exact norms
    auto restart_projection = [&] {
        for (index_t c = 0; c < N; ++c) {
            sq[c] = err[c] * err[c];
            sq_err[c] = double(n + 5) * eps64 * sq[c];
            spread[c] = err[c];
        }
    };
    // Term b (0-based among the pending ones, its q the last pending column of Q, its c row
    // b of C) folded into the norms, then the worst snapshot chosen: false if more than
    // kEimMaxFraction of the columns would need an exact evaluation (then write back).
    auto project_and_choose = [&](index_t b) {
        const T* q = out.Q.view().col(k0 + b);
        const T* weights = o.norm == EimNorm::Weighted ? w : nullptr;
        be.eim_project(ConstMatView<T>(R), q, weights, proj.data());
        be.eim_project(pending_Q(b + 1), q, weights, qdot.data());
        const double qq = qdot[b], nn = double(n + b + 3);
        qnorm[b] = std::sqrt(qq);
        const auto Cv = C.view();
        for (index_t c = 0; c < N; ++c) {
            double p = proj[c];
            for (index_t l = 0; l < b; ++l) p -= qdot[l] * double(Cv(l, c));
            const double cj = double(Cv(b, c)), t1 = 2 * cj * p, t2 = cj * cj * qq;
            const double old = sq[c];
            sq[c] = old - t1 + t2;
            sq_err[c] += 3 * eps64 * (std::abs(old) + std::abs(t1) + t2) +
                         2 * std::abs(cj) * nn * eps64 * qnorm[b] * spread[c] + nn * eps64 * t2;
            spread[c] += std::abs(cj) * qnorm[b];
        }
        // bounds on the squared norm the pass would compute (its sum: 1 +- nn eps64)
        const double gamma = double(b + 2) * epsT;
        auto low = [&](index_t c) {
            const double d = std::sqrt(std::max(sq[c] - sq_err[c], 0.0)) - gamma * spread[c];
            return d > 0 ? d * d * (1 - 2 * nn * eps64) : 0.0;
        };
        auto high = [&](index_t c) {
            const double d = std::sqrt(std::max(sq[c] + sq_err[c], 0.0)) + gamma * spread[c];
            return d * d * (1 + 2 * nn * eps64) * (1 + 4 * eps64);
        };
        double best_low = 0;
        for (index_t c = 0; c < N; ++c) best_low = std::max(best_low, low(c));
        std::vector<index_t> candidates;
        const auto limit = static_cast<std::size_t>(std::max(1.0, kEimMaxFraction * N));
        for (index_t c = 0; c < N; ++c) {
            if (high(c) < best_low) continue;
            candidates.push_back(c);
            if (candidates.size() > limit) return false;
        }
        // exact values (the pass's arithmetic on each column alone); ties to the first
        const auto Cb = ConstMatView<T>(C.view().rows_range(0, b + 1));
        bool found = false;
        for (const index_t c : candidates) {
            double ec = 0;
            be.template eim_block_errors<T>(R.cols_range(c, 1), G, pending_Q(b + 1),
                                            pending_MQ(b + 1), Cb.cols_range(c, 1), w, o.norm,
                                            false, &ec);
            if (!found || ec > e) {
                found = true;
                e = ec;
                j = c;
            }
        }
        return true;
    };

    // one thread or all, whichever is faster now: each term is one synchronizing pass, and
    // on cores shared with other processes a descheduled thread stalls every pass
    ThreadTuner<Backend> tuner(be);
    full_pass(0, false);
    if (projected) restart_projection();
    // Stop at rounding level too: once the residual is a few ulps of the snapshots, more
    // terms would interpolate noise (and a rank-r S is reproduced with r terms).
    const double floor_rel = 16 * std::numeric_limits<T>::epsilon();
    double first = 0;
    for (index_t k = 0;; ++k) {
        require(std::isfinite(e)) << "EIM: the residual is not finite (overflow in the input?)";
        out.errors.push_back(e);
        if (k == 0) first = e;
        if (e == 0 || e <= o.atol || e <= o.rtol * first || e <= floor_rel * first ||
            k == max_terms)
            break;
        const index_t b = k - k0;  // pending terms before this one
        // q_k = R_{k-1}[:, j] / R_{k-1}[i, j], with q_k[i] = 1 exactly so that R_k[i, :] = 0
        auto q = out.Q.view().cols_range(k, 1);
        if (snapshot_rows)
            be.transpose(ConstMatView<T>(R.rows_range(j, 1)), q);
        else
            be.eim_block_column(ConstMatView<T>(R), pending_Q(b), pending_C(b), j, q);
        const auto [at, pivot] = be.argmax_abs(ConstMatView<T>(q));
        const index_t i = at.first;
        if (pivot == T(0)) break;  // the column is zero to rounding: nothing left to interpolate
        be.axpby(T(1) / pivot, ConstMatView<T>(q), T(0), q);
        be.set_entry(q, i, index_t(0), T(1));
        // c_k = R_{k-1}[i, :], the values of every residual at the new point
        auto c = C.view().rows_range(b, 1);
        if (snapshot_rows)
            be.transpose(ConstMatView<T>(R.cols_range(i, 1)), c);
        else
            be.eim_block_row(ConstMatView<T>(R), pending_Q(b), pending_C(b), i, c);
        if (inner) M->apply(Trans::No, ConstMatView<T>(q), MQ.view().cols_range(b, 1));
        out.points.push_back(i);
        out.snapshots.push_back(j);
        // the block is full (or the bounds prune too little): write R_k back
        bool fold = b + 1 == block;
        if (!fold && bounded)
            fold = !be.eim_block_max(ConstMatView<T>(R), pending_Q(b + 1), pending_C(b + 1),
                                     chunk_max, kEimMaxFraction, &e, &j);
        if (!fold && projected) fold = !project_and_choose(b);
        if (fold || !(bounded || projected)) full_pass(b + 1, fold);
        if (fold) {
            k0 = k + 1;
            if (projected) restart_projection();
        }
        be.check_interrupt();
        tuner.step();
    }
    out.Q.truncate_cols(static_cast<index_t>(out.points.size()));
    return out;
}

}  // namespace rankwise
