// Preconditioned conjugate gradient, batched over the columns of a block of right-hand sides.
//
// Problem: A X = B with A (n x n) symmetric positive definite, B (n x s), M ~ A^-1 SPD.
// Each column runs its own CG recurrence (Hestenes & Stiefel 1952; Saad, "Iterative Methods
// for Sparse Linear Systems", 2nd ed., Algorithm 9.1), so its iterates are exactly those of a
// single-vector solve; the columns share one product A P per iteration, so the matrix is
// streamed once for all s columns.  (Block CG, O'Leary 1980, would share the Krylov spaces
// and can take fewer iterations, but needs rank-revealing care when columns become
// dependent; it is not this routine.)
//
// The recurrence is SciPy's cg (scipy/sparse/linalg/_isolve/iterative.py) step for step, so
// iteration counts agree with it: at the top of iteration k the column stops if
// ||r|| < atol_j; then z = M r, rho = r.z, p = z + (rho / rho_prev) p, q = A p,
// alpha = rho / p.q, x += alpha p, r -= alpha q.  The residual is the recursively updated one.
//
// Memory traffic per iteration and column (n-vectors of T), with M diagonal or absent, where
// the preconditioner is fused into the updates: the product q = A p with p.q (matrix, p, q;
// operators that cannot fuse the dot, LinearOp::apply_dot, read p and q once more), the x/r
// update with ||r||^2 and r.Mr (reads x p r q d, writes x r) and the p update (reads d r p,
// writes p): 13 vectors beside the matrix.  A general M adds z = M r and r.z.
//
// Breakdowns are reported per column, never turned into NaNs: p.Ap <= 0 (A not positive
// definite along p), r.Mr <= 0 with r != 0 (M not positive definite), non-finite values.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "rankwise/algo/precond.hpp"
#include "rankwise/algo/thread_tuner.hpp"
#include "rankwise/error.hpp"
#include "rankwise/linear_op.hpp"

namespace rankwise {

// Why a column stopped.
enum class CgStop : int {
    Converged = 0,  // ||r|| < atol (or r == 0 exactly)
    MaxIter = 1,    // maxiter iterations without reaching atol
    NotSpdA = 2,    // p.Ap <= 0: A is not positive definite
    NotSpdM = 3,    // r.Mr <= 0 with r != 0: M is not positive definite
    NonFinite = 4,  // NaN or Inf appeared in the recurrence
};

struct CgOptions {
    index_t maxiter = 0;
    std::vector<double> atol;  // per column: stop when ||r_j|| < atol[j]
    bool x0_nonzero = false;   // X holds a starting guess (else X = 0 and r = b, no product)
    double interrupt_seconds = 0.1;  // how often Ctrl-C is checked
};

struct CgResult {
    index_t steps = 0;                 // iterations of the batch (max over columns)
    index_t recorded = 0;              // columns of CgRecord filled
    std::vector<index_t> iterations;   // per column
    std::vector<CgStop> stop;          // per column
    // ||r_j|| at the top of each iteration and at exit: (steps + 1) rows of s entries,
    // row-major; NaN once column j has stopped.
    std::vector<double> history;
};

inline bool any_active(const std::vector<std::uint8_t>& active) {
    for (auto a : active)
        if (a) return true;
    return false;
}

// Called after every iteration with the number of iterations done (X holds the iterates).
using CgCallback = std::function<void(index_t)>;

// Optional output for recycling a deflation subspace across solves (Saad, Yeung, Erhel &
// Guyomarc'h 2000, section 3; Parks et al. 2006): copies of the first P.cols search
// directions p_k of column 0 of the block, and of q_k = A p_k, as computed by the loop (no
// extra products).  P and Q are n x m backend views (m = 0: nothing is recorded); column k
// holds iteration k's vectors, and CgResult::recorded says how many were filled.
template <class T>
struct CgRecord {
    MatView<T> P;
    MatView<T> Q;
};

// Solves A X = B; X holds the starting guess on entry (set to zero unless o.x0_nonzero) and the
// iterates on exit.  M == nullptr: no preconditioner.
template <class Backend, class T>
CgResult cg_solve(const Backend& be, const LinearOp<T>& A, const Preconditioner<T>* M,
                  ConstMatView<T> B, MatView<T> X, const CgOptions& o,
                  const CgCallback& callback = nullptr, const CgRecord<T>& record = {}) {
    const index_t n = A.rows(), s = B.cols;
    require(A.cols() == n) << "cg: A must be square, got " << n << " x " << A.cols();
    require(B.rows == n && X.rows == n && X.cols == s) << "cg: B and X must be " << n << " x s";
    require(M == nullptr || M->size() == n) << "cg: preconditioner size differs from A";
    require(static_cast<index_t>(o.atol.size()) == s) << "cg: one atol per column";
    require(o.maxiter >= 0) << "cg: maxiter must be >= 0";
    require(record.P.cols == record.Q.cols && (record.P.cols == 0 ||
                                               (record.P.rows == n && record.Q.rows == n)))
        << "cg: the record views must both be n x m";

    // Fused path: M absent (z = r) or diagonal (z = d .* r), no Z is stored after the start.
    const DiagonalView<T> d = M != nullptr ? M->diagonal() : DiagonalView<T>{};
    const bool fused = M == nullptr || !d.empty();
    const bool unpreconditioned = M == nullptr;

    auto R = be.template matrix<T>(n, s);
    auto P = be.template matrix<T>(n, s);
    auto Q = be.template matrix<T>(n, s);
    auto Z = be.template matrix<T>(unpreconditioned ? 0 : n, unpreconditioned ? 0 : s);

    // r = b - A x0, or r = b when x0 = 0 (as SciPy: no product then)
    if (o.x0_nonzero) {
        A.apply(Trans::No, ConstMatView<T>(X), R.view());
        be.axpby(T(1), B, T(-1), R.view());
    } else {
        be.fill(X, T(0));
        be.axpby(T(1), B, T(0), R.view());
    }

    const std::size_t ss = static_cast<std::size_t>(s);
    std::vector<double> rr(ss), rz(ss), pq(ss), rho_prev(ss, 1.0), rr_next(ss), rz_next(ss);
    std::vector<T> beta(ss);
    // p.q per column where the backend keeps it (the device on the GPU): the step along p
    // reads it there, so that an iteration has one sync, after that step
    auto pq_stored = be.template matrix<double>(s, 1);
    std::vector<std::uint8_t> active(ss, 1);
    CgResult res;
    res.iterations.assign(ss, 0);
    res.stop.assign(ss, CgStop::MaxIter);
    be.column_dots(ConstMatView<T>(R.view()), ConstMatView<T>(R.view()), rr.data());

    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto stop = [&](index_t j, CgStop why) {
        active[j] = 0;
        res.stop[j] = why;
    };
    // ||r||^2 below the smallest normal number (of T's squares where T is float): r.Mr or
    // p.Ap exactly 0 there is underflow, not an operator that is not positive definite
    // (rtol = atol = 0 on a 2 x 2 SPD matrix: p.Ap underflowed at ||r|| ~ 1e-160 and CG
    // said "A is not positive definite"); the residual is then as small as it can be.
    const double underflow = std::max(double(std::numeric_limits<double>::min()),
                                      double(std::numeric_limits<T>::min()) *
                                          double(std::numeric_limits<T>::min()));
    auto zero_by_underflow = [&](index_t j, double dot) {
        return dot == 0 && rr[j] < underflow;
    };
    // The convergence test at the top of an iteration; returns the number still running.
    auto check = [&]() {
        index_t running = 0;
        for (index_t j = 0; j < s; ++j) {
            if (!active[j]) {
                res.history.push_back(nan);
                continue;
            }
            const double rn = std::sqrt(rr[j]);
            res.history.push_back(rn);
            if (!std::isfinite(rn)) {
                stop(j, CgStop::NonFinite);
            } else if (rn < o.atol[j] || rn == 0.0) {
                stop(j, CgStop::Converged);
            } else {
                ++running;
            }
        }
        return running;
    };

    using clock = std::chrono::steady_clock;
    auto last_check = clock::now();
    ThreadTuner<Backend> tuner(be);  // one thread or all, whichever is faster now
    for (index_t k = 0; k < o.maxiter; ++k) {
        if (check() == 0) return res;
        if (std::chrono::duration<double>(clock::now() - last_check).count() >=
            o.interrupt_seconds) {
            be.check_interrupt();
            last_check = clock::now();
        }

        // z = M r, rho = r.z  (fused path: rho came out of the previous x/r update)
        if (!fused) {
            M->apply(ConstMatView<T>(R.view()), Z.view());
            be.column_dots(ConstMatView<T>(R.view()), ConstMatView<T>(Z.view()), rz.data());
        } else if (k == 0) {
            if (!unpreconditioned) {  // z = d .* r, by M itself
                M->apply(ConstMatView<T>(R.view()), Z.view());
                be.column_dots(ConstMatView<T>(R.view()), ConstMatView<T>(Z.view()), rz.data());
            } else {
                rz = rr;
            }
        }
        for (index_t j = 0; j < s; ++j) {
            if (!active[j]) continue;
            if (!std::isfinite(rz[j])) {
                stop(j, CgStop::NonFinite);
            } else if (zero_by_underflow(j, rz[j])) {
                stop(j, CgStop::Converged);
            } else if (rz[j] <= 0.0) {
                stop(j, CgStop::NotSpdM);  // r != 0 here, so M is not positive definite
            }
        }
        if (!any_active(active)) return res;

        // p = z (first iteration), else p = z + beta p with beta = rho / rho_prev
        if (k == 0) {
            be.axpby(T(1),
                     unpreconditioned ? ConstMatView<T>(R.view()) : ConstMatView<T>(Z.view()),
                     T(0), P.view());
        } else {
            for (index_t j = 0; j < s; ++j)
                beta[j] = active[j] ? static_cast<T>(rz[j] / rho_prev[j]) : T(0);
            if (fused) {
                be.cg_update_p(beta.data(), d, ConstMatView<T>(R.view()), P.view(), active.data());
            } else {
                be.cg_update_p(beta.data(), DiagonalView<T>{}, ConstMatView<T>(Z.view()), P.view(),
                               active.data());
            }
        }

        // q = A p and p.q (one pass where the operator fuses the two)
        double* const pq_b = pq_stored.view().data;
        if (!A.apply_dot(ConstMatView<T>(P.view()), Q.view(), pq_b)) {
            A.apply(Trans::No, ConstMatView<T>(P.view()), Q.view());
            be.column_dots_stored(ConstMatView<T>(P.view()), ConstMatView<T>(Q.view()), pq_b);
        }
        // alpha = rho / p.q, x += alpha p, r -= alpha q; ||r||^2 and (fused) the next
        // rho = r.(M r).  The backend steps the columns whose p.q is positive and finite
        // (those that pass the checks below) and brings p.q back with the sums.
        rr_next = rr;
        rz_next = rz;
        be.cg_update_xr(rz.data(), pq_b, ConstMatView<T>(P.view()), ConstMatView<T>(Q.view()),
                        X, R.view(), d, active.data(), pq.data(), rr_next.data(),
                        rz_next.data());
        if (active[0] && res.recorded < record.P.cols && std::isfinite(pq[0]) && pq[0] > 0) {
            // keep p_k, q_k of column 0 (two n-vector copies, the first m iterations only)
            be.copy(ConstMatView<T>(P.view().cols_range(0, 1)),
                    record.P.cols_range(res.recorded, 1));
            be.copy(ConstMatView<T>(Q.view().cols_range(0, 1)),
                    record.Q.cols_range(res.recorded, 1));
            ++res.recorded;
        }
        for (index_t j = 0; j < s; ++j) {
            if (!active[j]) continue;
            if (!std::isfinite(pq[j])) {
                stop(j, CgStop::NonFinite);
            } else if (zero_by_underflow(j, pq[j])) {
                stop(j, CgStop::Converged);
            } else if (pq[j] <= 0.0) {
                stop(j, CgStop::NotSpdA);
            } else {  // stepped
                rho_prev[j] = rz[j];
                rr[j] = rr_next[j];
                rz[j] = unpreconditioned ? rr_next[j] : rz_next[j];
            }
        }
        if (!any_active(active)) return res;

        ++res.steps;
        for (index_t j = 0; j < s; ++j) res.iterations[j] += active[j];
        if (callback) callback(res.steps);
        tuner.step();
    }
    // maxiter reached: a column whose last step met the tolerance has converged
    for (index_t j = 0; j < s; ++j) {
        const double rn = std::sqrt(rr[j]);
        if (!active[j]) {
            res.history.push_back(nan);
            continue;
        }
        res.history.push_back(rn);
        if (!std::isfinite(rn)) {
            stop(j, CgStop::NonFinite);
        } else if (rn < o.atol[j] || rn == 0.0) {
            stop(j, CgStop::Converged);
        } else {
            stop(j, CgStop::MaxIter);
        }
    }
    return res;
}

}  // namespace rankwise
