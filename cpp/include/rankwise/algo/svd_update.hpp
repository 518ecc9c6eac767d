// Updating a truncated SVD: keep A ~ U diag(s) V^T (rank k) current as rows, columns or a
// low-rank correction B C^T arrive, without the matrix A itself.
//
// Every update is a Rayleigh-Ritz step on an enlarged pair of subspaces (Zha & Simon 1999;
// Brand, Linear Algebra Appl. 415, 2006, for A + B C^T):
//   new rows E (r x n):   [A; E]  ~ [[U, 0], [0, I_r]] M [V, Q]^T,   M = [[S, 0], [E V, E Q]]
//   new columns F (m x r): the same on A^T (the two sides swap roles)
//   A + B C^T            ~ [U, Qb] M [V, Qc]^T,  M = [[S, 0], [0, 0]] + [U^T B; Rb][V^T C; Rc]^T
// with Q, Qb, Qc residual bases from update_projection.hpp.  The SVD M = F diag(sigma) G^T of
// the small matrix gives the new factors U' = [U, ...] F(:, :k), s' = sigma(:k),
// V' = [V, Q] G(:, :k).
//
// Storage.  Each side W (N x k) is kept as W = We(0:N, :) K with a k x k factor K (the
// "extended decomposition" of Deng et al., ICLR 2024), We row-major (stored as its
// transpose WeT, k x capacity): a sparse update reads and writes the rows it touches, and
// those are contiguous that way (column-major, each touched row was k strided accesses,
// a sixth of a 20000-node update).  The explicit methods (Zha-Simon,
// Vecharynski-Saad) form W' = [W Q] G every time (K = I, O(N k (k + p)) flops).  The sparse
// method writes W' = W (G1 - Cd X G2) + D X G2 (update_projection.hpp), so
//   K' = K (G1 - Cd X G2),   We(J, :) += D(J, :) X G2 K'^-1,
// and only the |J| rows that the update touches change; appended rows are F2 K'^-1.  When
// cond(K') may pass max_cond (a bound within k^(1/4) of it does: inverse_if_well_conditioned),
// that side is materialized (We <- We K', K <- I) instead.
// The sparse method also tracks gram = We^T We (O(|J| k^2) per update), so that the loss of
// orthogonality W^T W - I = K^T gram K - I is known in O(k^3).  After each update both
// sides are re-orthonormalized in O(k^3): with W^T W = R^T R (Cholesky), W R^-1 is
// orthonormal and U S V^T = (U Ru^-1) (Ru S Rv^T) (V Rv^-1)^T.  The middle factor is kept
// as it is (core_): the next update takes it into its small matrix M, whose SVD
// diagonalizes it with the rest, and factors() diagonalizes it by a k x k SVD when the
// factors are read.  This bounds ||U^T U - I|| by the rounding in gram, not by the number
// of updates, at one small SVD per update instead of two.
// The dense methods form both sides in full at each update, and their loss of orthogonality
// grows by about eps per update (3e-4 after 3000 one-row float32 updates); every
// kFormedReorthonormalizePeriod updates their sides are re-orthonormalized the same way,
// with Gram matrices formed (O((m + n) k^2), a few percent of the period's work).
//
// Exception safety: an update computes the new state aside and commits it at the end, so a
// rejected or interrupted update (Ctrl-C) leaves the state as it was.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "rankwise/algo/thread_tuner.hpp"
#include "rankwise/algo/update_projection.hpp"
#include "rankwise/error.hpp"

namespace rankwise {

enum class UpdateMethod { ZhaSimon, VecharynskiSaad, Sparse };

// One update runs a few dozen short kernels.  Where its work is small, each parallel region
// costs more than it saves: on a machine whose cores are shared, a region waits for a
// descheduled thread up to a scheduler time slice (cpu/parallel.hpp, thread_tuner.hpp;
// measured on the shared 2-core machine: 8 ms per update of a 6000-node graph on 2 threads,
// 2 ms on one).  So an update below kSmallUpdateFlops runs on one thread.  The choice
// depends on the sizes only, so results are reproducible run to run.
inline constexpr double kSmallUpdateFlops = 3e7;

// The sparse method's small SVDs go through M^T M where sigma_1^2 / sigma_k^2 of M is at
// most this (SvdUpdate::small_svd).
inline constexpr double kGramSvdMaxRatio2 = 1e4;

// The dense methods re-orthonormalize their formed sides once in this many updates.
inline constexpr index_t kFormedReorthonormalizePeriod = 32;

struct UpdateOptions {
    UpdateMethod method = UpdateMethod::ZhaSimon;
    index_t rank = 0;     // l: residual directions kept (VS, sparse); 0 = all (exact)
    int n_iter = 2;       // subspace iterations for a rank-l residual basis
    bool krylov = false;  // rank-l basis from l Golub-Kahan-Lanczos steps instead (n_iter unused)
    double max_cond = 0;  // sparse: materialize a side when cond(K) passes it (0: eps^-1/4)
    philox::Key key{0, 0};
};

struct UpdateStats {
    index_t updates = 0;
    index_t materializations = 0;  // sparse method: sides refreshed because cond(K) grew
    double discarded = 0;          // sum of sigma_i^2, i > k, over all updates
    double dropped = 0;            // residual energy outside [W Q] (rank-l bases, rounding)
};

// What the drift monitor measures (SvdUpdateState::drift): two differences of squares and
// ||A||_F^2, the size of the terms they cancel.
struct DriftSquares {
    double err2 = 0;   // ||A - U S V^T||_F^2
    double best2 = 0;  // an upper bound on ||A - A_k||_F^2
    double fro2 = 0;   // ||A||_F^2
};

// A factor (rows x cols) as the caller holds it: column-major (M is the factor), or
// row-major (transposed: M is its transpose, cols x rows column-major), so that numpy's
// C-ordered factors are read in place.
template <class T>
struct FactorIn {
    ConstMatView<T> M;
    bool transposed = false;
    index_t rows() const { return transposed ? M.cols : M.rows; }
    index_t cols() const { return transposed ? M.rows : M.cols; }
};

template <class Backend, class T>
class SvdUpdate {
   public:
    using Matrix = typename Backend::template Matrix<T>;

    // U (m x k) and V (n x k) with orthonormal columns, each column-major or given as its
    // transpose (FactorIn), s (k, host memory).
    SvdUpdate(const Backend& be, FactorIn<T> U, const T* s, FactorIn<T> V,
              const UpdateOptions& o)
        : be_(be), o_(o), s_(s, s + U.cols()) {
        require(U.cols() == V.cols() && U.cols() >= 1)
            << "U and V must have the same k >= 1 columns";
        require(o.rank >= 0 && o.n_iter >= 0) << "rank and n_iter must be >= 0";
        if (o_.max_cond <= 0) o_.max_cond = std::pow(std::numeric_limits<T>::epsilon(), -0.25);
        u_ = make_side(U);
        v_ = make_side(V);
    }
    SvdUpdate(const Backend& be, ConstMatView<T> U, const T* s, ConstMatView<T> V,
              const UpdateOptions& o)
        : SvdUpdate(be, FactorIn<T>{U, false}, s, FactorIn<T>{V, false}, o) {}

    index_t rows() const { return u_.N; }
    index_t cols() const { return v_.N; }
    index_t rank() const { return static_cast<index_t>(s_.size()); }
    // s_1, without forming the factors (the values are kept in host memory, descending)
    double largest_value() const { return s_.empty() ? 0.0 : double(s_.front()); }
    const UpdateStats& stats() const { return stats_; }
    // Resume the counters of a saved state (Python's pickling): the random streams of the
    // next updates follow from stats_.updates.
    void restore_stats(const UpdateStats& s) { stats_ = s; }

    // The current truncated SVD: U (m x k) and V (n x k) with orthonormal columns, s
    // (descending, host memory), with the signs of rankwise.svd (the largest-magnitude
    // entry of each column of U positive: scikit-learn's svd_flip).  O((m + n) k^2).
    struct Factors {
        Matrix U, V;
        std::vector<T> s;
    };
    Factors factors() const {
        const index_t k = rank();
        Factors f;
        auto Ku = be_.template matrix<T>(k, k), Kv = be_.template matrix<T>(k, k);
        if (!core_) {
            be_.copy(ConstMatView<T>(u_.K.view()), Ku.view());
            be_.copy(ConstMatView<T>(v_.K.view()), Kv.view());
            f.s = s_;
        } else {  // core = P diag(s) Q^T: U = We_u (K_u P), V = We_v (K_v Q)
            auto core = be_.template matrix<T>(k, k);
            be_.copy(ConstMatView<T>(core_->view()), core.view());
            auto P = be_.template matrix<T>(k, k), Qt = be_.template matrix<T>(k, k);
            f.s.assign(static_cast<std::size_t>(k), T(0));
            be_.svd(core.view(), P.view(), f.s.data(), Qt.view(), SvdDriver::Gesdd);
            be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(u_.K.view()),
                     ConstMatView<T>(P.view()), T(0), Ku.view());
            be_.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(v_.K.view()),
                     ConstMatView<T>(Qt.view()), T(0), Kv.view());
        }
        f.U = materialize(u_, Ku.view());
        // V's sign flips enter through K_v, so only U's flipped columns are written twice
        const std::vector<T> signs = flip_to_largest_positive(f.U.view());
        be_.scale_columns(ConstMatView<T>(Kv.view()), signs.data(), Kv.view());
        f.V = materialize(v_, Kv.view());
        return f;
    }
    // The parts of factors() (each call forms all three: O((m + n) k^2)).
    std::vector<T> s() const { return factors().s; }
    Matrix left() const { return factors().U; }
    Matrix right() const { return factors().V; }

    // ||W^T W - I||_F of one side, W = We K formed (O(N k^2)); the same for the factors()
    // side W P (P orthogonal, the Frobenius norm unchanged).  The tracked gram of the sparse
    // method cannot tell: re-orthonormalization makes K^T gram K = I up to rounding.
    double orthogonality(bool left_side) const {
        const Side& w = left_side ? u_ : v_;
        const index_t k = rank();
        auto W = materialize(w, ConstMatView<T>(w.K.view()));
        auto G = gram_of(ConstMatView<T>(W.view()));
        auto I = identity<Backend, T>(be_, k);
        be_.add_scaled(ConstMatView<T>(I.view()), T(-1), G.view());
        return std::sqrt(be_.sum_squares(ConstMatView<T>(G.view())));
    }

    // The method and its rank l, changed before the first update (SVDUpdater resolves
    // method="auto" from the first update's type; the state is the same for all methods).
    void set_method(UpdateMethod method, index_t rank) {
        require(stats_.updates == 0) << "the method can only change before the first update";
        require(rank >= 0) << "rank must be >= 0";
        o_.method = method;
        o_.rank = rank;
    }

    // max |W^T W - I| of (U, V) from the tracked Gram matrices (O(k^2)); NaN where a Gram
    // matrix is not finite.  Right after construction they are the given factors' Grams
    // (formed once, in the constructor), so this checks that the factors are orthonormal
    // without a second O(N k^2) pass, and that they are finite: a NaN or Inf entry of W
    // makes the diagonal of W^T W NaN or Inf.
    std::pair<double, double> gram_deviation() const {
        auto dev = [&](const Side& w) {
            const index_t k = rank();
            auto G = be_.template matrix<T>(k, k);
            be_.copy(ConstMatView<T>(w.gram.view()), G.view());
            auto I = identity<Backend, T>(be_, k);
            be_.add_scaled(ConstMatView<T>(I.view()), T(-1), G.view());
            // argmax_abs passes over NaN entries; a sum of squares does not
            if (!std::isfinite(be_.sum_squares(ConstMatView<T>(G.view()))))
                return std::numeric_limits<double>::quiet_NaN();
            return std::abs(double(be_.argmax_abs(ConstMatView<T>(G.view())).second));
        };
        return {dev(u_), dev(v_)};
    }

    // Drift monitor (SVDUpdater.estimate_drift) for the current matrix A (m x n, ||A||_F
    // known).  Returns err2, best2 and ||A||_F^2 (the scale of their rounding errors):
    //   err2 = ||A - U S V^T||_F^2 = ||A||_F^2 - 2 sum_i s_i u_i^T A v_i + ||s||^2, exact,
    //          from W = A^T U;
    //   best2 = ||A||_F^2 - ||A P||_F^2 >= ||A - A_k||_F^2, P an orthonormal basis of W (one
    //          subspace-iteration step from the tracked left subspace).
    // Two products with A and O((m + n) k^2) more; A is only read.  `s_scale`: A is the
    // current matrix times this power of two (the caller's scaling of a matrix whose
    // squares would leave the double range), and the singular values are scaled with it.
    DriftSquares drift(const LinearOp<T>& A, double s_scale = 1) const {
        be_.check_interrupt();
        require(A.rows() == rows() && A.cols() == cols())
            << "A has shape (" << A.rows() << ", " << A.cols() << "); the updater tracks ("
            << rows() << ", " << cols() << ")";
        const double fro2 = A.fro_norm2();
        require(std::isfinite(fro2))
            << "the drift estimate needs ||A||_F: pass A as a dense or sparse matrix";
        const index_t k = rank();
        auto f = factors();
        auto W = be_.template matrix<T>(cols(), k);
        A.apply(Trans::Yes, ConstMatView<T>(f.U.view()), W.view());
        std::vector<double> dots(static_cast<std::size_t>(k));
        be_.column_dots(ConstMatView<T>(W.view()), ConstMatView<T>(f.V.view()), dots.data());
        double cross = 0, s2 = 0;
        for (index_t i = 0; i < k; ++i) {
            const double si = double(f.s[i]) * s_scale;
            cross += si * dots[i];
            s2 += si * si;
        }
        const double err2 = std::max(fro2 - 2.0 * cross + s2, 0.0);
        be_.check_interrupt();
        be_.orthonormalize(W.view(), Ortho::Householder);
        auto AP = be_.template matrix<T>(rows(), k);
        A.apply(Trans::No, ConstMatView<T>(W.view()), AP.view());
        const double best2 = fro2 - be_.sum_squares(ConstMatView<T>(AP.view()));
        return {err2, best2, fro2};
    }

    // A <- [A; E]: E^T restricted to its nonzero columns J of A is the V-side block.
    void add_rows(SideBlock<T> E) { append(u_, v_, E, false); }
    // A <- [A, F]: F(J, :)^T given; the U side gets the block, V gets new rows.
    void add_columns(SideBlock<T> F) { append(v_, u_, F, true); }

    // A <- A + B C^T, B (m x r) and C (n x r) given as B(Jb, :)^T and C(Jc, :)^T.
    void update(SideBlock<T> B, SideBlock<T> C) {
        be_.check_interrupt();
        const index_t k = rank(), r = B.Dt->rows();
        require(C.Dt->rows() == r) << "B and C must have the same number of columns";
        const OneThreadIf<Backend> threads(be_,
                                           flops(u_, B) + flops(v_, C) < kSmallUpdateFlops);
        auto pu = project(u_, B, 2 * stats_.updates);
        auto pv = project(v_, C, 2 * stats_.updates + 1);
        // M = [[S, 0], [0, 0]] + Lc Rc^T with Lc^T = [B^T U, B^T Qb], Rc^T = [C^T V, C^T Qc]
        auto LcT = hcat(pu), RcT = hcat(pv);
        const index_t mu = k + pu.p, mv = k + pv.p;
        // formed as M or as M^T, whichever is tall (the small SVD wants rows >= columns)
        const bool tall = mu >= mv;
        auto M = be_.template matrix<T>(tall ? mu : mv, tall ? mv : mu);
        be_.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>((tall ? LcT : RcT).view()),
                 ConstMatView<T>((tall ? RcT : LcT).view()), T(0), M.view());
        auto core = middle(!tall);  // transposed where M is
        be_.add_scaled(ConstMatView<T>(core.view()), T(1),
                       M.view().rows_range(0, k).cols_range(0, k));
        Matrix F, G;  // (mu x k), (mv x k)
        std::vector<T> sigma;
        if (tall) {
            small_svd(M.view(), F, sigma, G);
        } else {
            small_svd(M.view(), G, sigma, F);
        }
        Pending nu = rotate(u_, pu, B, F.view());
        Pending nv = rotate(v_, pv, C, G.view());
        finish(std::move(nu), std::move(nv), sigma, pu.dropped + pv.dropped);
    }

   private:
    struct Side {
        Matrix WeT;  // k x cap: We^T, columns [0, N) in use
        index_t N = 0;
        Matrix K;     // k x k
        Matrix gram;  // k x k: We(0:N)^T We(0:N) (sparse method)
        ConstMatView<T> used() const {  // We(0:N, :)^T
            return ConstMatView<T>(WeT.view()).cols_range(0, N);
        }
    };
    // A side's new state, committed by finish(): either a new We (materialized), or rows
    // to add to the old one (Delta at rows J) and/or rows to append at N.
    struct Pending {
        bool replace = false;
        Matrix WeT;           // replace: the new storage (transposed, as Side::WeT)
        Matrix DeltaT;        // k x |J|: Delta^T, Delta to add to We(J, :)
        const index_t* J = nullptr;
        bool delta_all = false;  // Delta covers all N rows (dense block)
        index_t grow = 0;     // rows appended (already written to WeT or the new storage)
        bool materialized = false;  // sparse method: K was ill-conditioned, We <- We K
        Matrix K, gram;
    };

    bool sparse() const { return o_.method == UpdateMethod::Sparse; }

    // Flops of projecting block D on side w and rotating it that threads can share, roughly
    // (for kSmallUpdateFlops).  The sparse method: the products with the block (D^T We,
    // Delta, D^T Delta and the residual's: 2 nnz (3 k + 2 l (n_iter + 1))), the gather and
    // scatter of the |J| touched rows (counted as 2 |J| k), and the r x (k + l) blocks of
    // the projection (4 r (k + l)^2).  The small SVDs are left out: LAPACK runs them on one
    // thread at these sizes whatever the setting.
    double flops(const Side& w, SideBlock<T> D) const {
        const double k = double(rank()), r = double(D.Dt->rows()), nJ = double(D.Dt->cols());
        const double l = o_.rank > 0 ? std::min(double(o_.rank), r) : r;
        if (!sparse()) return 2.0 * double(w.N) * (r * (k + l) + k * (k + l));
        return 2.0 * D.Dt->entries() * (3.0 * k + 2.0 * l * (o_.n_iter + 1)) + 2.0 * nJ * k +
               4.0 * r * (k + l) * (k + l);
    }

    Side make_side(FactorIn<T> W) {
        Side w;
        w.N = W.rows();
        w.WeT = be_.template matrix<T>(W.cols(), W.rows());
        if (W.transposed) {
            be_.copy(W.M, w.WeT.view());
        } else {
            be_.transpose(W.M, w.WeT.view());
        }
        w.K = identity<Backend, T>(be_, W.cols());
        w.gram = gram_of_rows(ConstMatView<T>(w.WeT.view()));
        return w;
    }

    // We(0:N, :) K of side w, for a k x k K (the side's own, or that times a rotation):
    // column-major, N x k
    Matrix materialize(const Side& w, ConstMatView<T> K) const {
        auto W = be_.template matrix<T>(w.N, rank());
        be_.gemm(Trans::Yes, Trans::No, T(1), w.used(), K, T(0), W.view());
        return W;
    }

    // Negates the columns of W whose largest-magnitude entry (the first, on a tie) is
    // negative; returns each column's sign (+1 or -1).
    std::vector<T> flip_to_largest_positive(MatView<T> W) const {
        const std::vector<T> signs = largest_entry_signs(be_, ConstMatView<T>(W));
        for (index_t j = 0; j < W.cols; ++j) {
            if (signs[static_cast<std::size_t>(j)] > T(0)) continue;
            auto column = W.cols_range(j, 1);
            be_.scale_columns(ConstMatView<T>(column), &signs[static_cast<std::size_t>(j)],
                              column);
        }
        return signs;
    }

    // K^T G K
    Matrix congruence(ConstMatView<T> K, ConstMatView<T> G) const {
        const index_t k = K.cols;
        auto GK = be_.template matrix<T>(k, k), out = be_.template matrix<T>(k, k);
        be_.gemm(Trans::No, Trans::No, T(1), G, K, T(0), GK.view());
        be_.gemm(Trans::Yes, Trans::No, T(1), K, ConstMatView<T>(GK.view()), T(0), out.view());
        return out;
    }

    Matrix diag(const std::vector<T>& d) const {
        const index_t n = static_cast<index_t>(d.size());
        std::vector<T> h(static_cast<std::size_t>(n * n), T(0));
        for (index_t i = 0; i < n; ++i) h[i + i * n] = d[i];
        auto D = be_.template matrix<T>(n, n);
        be_.from_host(h.data(), D.view());
        return D;
    }

    // [D^T W, D^T Q] (r x (k + p))
    Matrix hcat(const Projection<Backend, T>& pr) const {
        const index_t r = pr.CdT.rows(), k = rank();
        auto out = be_.template matrix<T>(r, k + pr.p);
        be_.copy(ConstMatView<T>(pr.CdT.view()), out.view().cols_range(0, k));
        be_.copy(ConstMatView<T>(pr.RT.view()), out.view().cols_range(k, pr.p));
        return out;
    }

    // Thin SVD of the small tall M (destroyed): left (rows x k), sigma (all), right (cols x k).
    // The sparse method takes the top k from the eigendecomposition of M^T M where the
    // backend offers it and M's top k singular values span at most kGramSvdMaxRatio2 in
    // square (a relative error of about 1e-10 at worst instead of gesdd's 1e-14, 2-2.5x
    // faster: LAPACK's SVD was the largest single cost of a sparse update).  The
    // re-orthonormalization after the update (finish) absorbs what the vectors lose in
    // orthogonality, since the tracked Gram matrices are exact.  Tried only where the
    // current s_ says the test will pass (the top k change little per update).
    void small_svd(MatView<T> M, Matrix& left, std::vector<T>& sigma, Matrix& right) const {
        const index_t k = rank();
        sigma.assign(static_cast<std::size_t>(M.cols), T(0));
        const double ratio = double(s_.front()) / double(s_.back());
        if (sparse() && ratio * ratio <= 0.25 * kGramSvdMaxRatio2) {
            auto U = be_.template matrix<T>(M.rows, k), V = be_.template matrix<T>(M.cols, k);
            if (be_.top_svd_by_gram(ConstMatView<T>(M), k, U.view(), sigma.data(), V.view(),
                                    kGramSvdMaxRatio2)) {
                left = std::move(U);
                right = std::move(V);
                return;
            }
        }
        auto F = be_.template matrix<T>(M.rows, M.cols);
        auto Gt = be_.template matrix<T>(M.cols, M.cols);
        be_.svd(M, F.view(), sigma.data(), Gt.view(), SvdDriver::Gesdd);
        F.truncate_cols(k);
        left = std::move(F);
        right = transposed(be_, ConstMatView<T>(Gt.view().rows_range(0, k)));
    }

    Projection<Backend, T> project(const Side& w, SideBlock<T> D, std::uint64_t stream) const {
        require(D.Dt->cols() <= w.N) << "update block has more rows than the factor";
        switch (o_.method) {
            case UpdateMethod::ZhaSimon:
                return project_explicit(be_, w.used(), D, 0, 0, false, o_.key, stream);
            case UpdateMethod::VecharynskiSaad:
                return project_explicit(be_, w.used(), D, o_.rank, o_.n_iter, o_.krylov, o_.key,
                                        stream);
            case UpdateMethod::Sparse: break;
        }
        return project_implicit(be_, w.used(), ConstMatView<T>(w.K.view()), D, o_.rank,
                                o_.n_iter, o_.krylov, o_.key, stream);
    }

    // K^-1 when the bound b of cond(K) below is at most max_cond, else nothing (the caller
    // materializes that side).  The inverse is what the update needs anyway (its condition
    // number is at most max_cond, so it is accurate to about cond(K) eps, and each c x k
    // product with it is one GEMM).  The test is on b = ||K||_S8 ||K^-1||_S8 (schatten8
    // below), a bound of cond_2(K) = ||K||_2 ||K^-1||_2 within a factor k^(1/4) (2.8 for
    // k = 64), since ||A||_2 <= ||A||_S8 <= k^(1/8) ||A||_2: a side is materialized when
    // cond_2(K) passes max_cond at the latest, max_cond / k^(1/4) at the earliest.  Exact
    // singular values (a k x k SVD, 6x the cost of the bound) would decide within that
    // band, and K's condition spends most updates in it (it grows until the side is
    // materialized): a few more materializations (O(N k^2) each, 4 -> 5 in the 20000-node
    // benchmark) cost less than an SVD per update.  Where the LU finds K singular, or the
    // bound is not finite, the singular values decide.  The Frobenius bound
    // ||K||_F ||K^-1||_F >= b (O(k^2)) goes first: where it passes, so does b, without
    // b's four k x k x k products.
    std::optional<Matrix> inverse_if_well_conditioned(ConstMatView<T> K) const {
        const index_t k = K.cols;
        auto Kc = be_.template matrix<T>(k, k);
        be_.copy(K, Kc.view());
        auto Kinv = identity<Backend, T>(be_, k);
        bool solved = true;
        try {
            be_.solve(Kc.view(), Kinv.view(), "the extended factor K");
        } catch (const Error&) {
            solved = false;  // singular to working precision: the exact test decides
        }
        if (solved) {
            const ConstMatView<T> inv(Kinv.view());
            const double fro_k = std::sqrt(be_.sum_squares(K));
            const double fro_inv = std::sqrt(be_.sum_squares(inv));
            if (fro_k * fro_inv <= o_.max_cond) return Kinv;
            const double bound = schatten8(K, fro_k) * schatten8(inv, fro_inv);
            if (bound <= o_.max_cond) return Kinv;
            if (std::isfinite(bound)) return std::nullopt;
        }
        be_.copy(K, Kc.view());
        std::vector<T> sv(static_cast<std::size_t>(k));
        be_.singular_values(Kc.view(), sv.data());
        const double lo = double(sv[k - 1]), hi = double(sv[0]);
        if (solved && std::isfinite(hi) && lo > 0 && hi <= o_.max_cond * lo) return Kinv;
        return std::nullopt;
    }

    // ||A||_S8 = (sum sigma_i^8)^(1/8) = ||(A^T A)^2||_F^(1/4) of a square A, given
    // fro = ||A||_F, formed from A scaled to unit Frobenius norm (no overflow: its
    // sigma_i <= 1); inf or NaN where A has them, so that no bound settles the test.
    double schatten8(ConstMatView<T> A, double fro) const {
        const index_t k = A.cols;
        if (!std::isfinite(fro) || fro == 0) return fro;
        auto H = be_.template matrix<T>(k, k), H2 = be_.template matrix<T>(k, k);
        const T inv2 = T(1.0 / (fro * fro));
        be_.gemm(Trans::Yes, Trans::No, inv2, A, A, T(0), H.view());
        be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(H.view()),
                 ConstMatView<T>(H.view()), T(0), H2.view());
        return fro * std::pow(be_.sum_squares(ConstMatView<T>(H2.view())), 0.125);
    }

    Matrix gram_of(ConstMatView<T> W) const {
        auto G = be_.template matrix<T>(W.cols, W.cols);
        be_.gemm(Trans::Yes, Trans::No, T(1), W, W, T(0), G.view());
        return G;
    }
    // W^T W from Wt = W^T
    Matrix gram_of_rows(ConstMatView<T> Wt) const {
        auto G = be_.template matrix<T>(Wt.rows, Wt.rows);
        be_.gram_rows(Wt, G.view());
        return G;
    }

    // New state of a side that received the block D, given its rotation Gw ((k + p) x k):
    // W' = [W, Q] Gw.
    Pending rotate(const Side& w, const Projection<Backend, T>& pr, SideBlock<T> D,
                   ConstMatView<T> Gw) const {
        const index_t k = rank(), p = pr.p;
        const ConstMatView<T> G1 = Gw.rows_range(0, k), G2 = Gw.rows_range(k, p);
        Pending out;
        if (!sparse()) {  // W'^T = G1^T W^T + G2^T Q^T, formed
            out.replace = true;
            out.WeT = be_.template matrix<T>(k, w.N);
            be_.gemm(Trans::Yes, Trans::No, T(1), G1, w.used(), T(0), out.WeT.view());
            if (p > 0)
                be_.gemm(Trans::Yes, Trans::Yes, T(1), G2, ConstMatView<T>(pr.Q.view()), T(1),
                         out.WeT.view());
            out.K = identity<Backend, T>(be_, k);
            return out;
        }
        // The block's part of the rotation, D X G2 (N x k), has rank p <= l, so each r x k
        // product below is taken through X (r x p) and a p x k factor: O(r k p) flops
        // where the r x k products were O(r k^2) (r = 400, k = 64, p = 10: 6x fewer).
        // Y = G1 - Cd X G2,  K' = K Y
        const index_t r = pr.CdT.rows();
        const ConstMatView<T> X = pr.X.view();
        auto WX = be_.template matrix<T>(k, p);  // (D^T We)^T X, the one r-long product
        be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(pr.DtWeT.view()), X, T(0),
                 WX.view());
        auto CX = be_.template matrix<T>(k, p);  // Cd X = K^T (D^T We)^T X
        be_.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(w.K.view()),
                 ConstMatView<T>(WX.view()), T(0), CX.view());
        auto Y = be_.template matrix<T>(k, k);
        be_.copy(G1, Y.view());
        be_.gemm(Trans::No, Trans::No, T(-1), ConstMatView<T>(CX.view()), G2, T(1), Y.view());
        out.K = be_.template matrix<T>(k, k);
        be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(w.K.view()),
                 ConstMatView<T>(Y.view()), T(0), out.K.view());
        const index_t nJ = D.Dt->cols();
        const bool all = D.J == nullptr;
        if (const auto Kinv = inverse_if_well_conditioned(out.K.view())) {
            if (p == 0) return out;  // no residual direction: We and its Gram stay
            // We(J, :) += D(J, :) X G2 K'^-1 = D(J, :) X E, E = G2 K'^-1 (p x k); formed
            // transposed (row-major) from coef^T = E^T X^T
            auto E = be_.template matrix<T>(p, k);
            be_.gemm(Trans::No, Trans::No, T(1), G2, ConstMatView<T>(Kinv->view()), T(0),
                     E.view());
            auto coefT = be_.template matrix<T>(k, r);
            be_.gemm(Trans::Yes, Trans::Yes, T(1), ConstMatView<T>(E.view()), X, T(0),
                     coefT.view());
            out.DeltaT = be_.template matrix<T>(k, nJ);
            apply_rows(be_, *D.Dt, Trans::Yes, ConstMatView<T>(coefT.view()),
                       out.DeltaT.view());
            out.J = D.J;
            out.delta_all = all;
            // gram' = gram + WeJ^T Delta + Delta^T WeJ + Delta^T Delta = gram + C + C^T with
            // C = WeJ^T Delta + Delta^T Delta / 2 = (D^T We)^T X E + E^T (DX^T DX) E / 2
            // (Delta = D(J, :) X E, DX = D(J, :) X: |J| x p, from the sparse block)
            auto DX = be_.template matrix<T>(nJ, p);
            D.Dt->apply(Trans::Yes, X, DX.view());
            auto XDDX = gram_of(ConstMatView<T>(DX.view()));  // p x p
            auto half = be_.template matrix<T>(p, k);       // (DX^T DX) E / 2
            be_.gemm(Trans::No, Trans::No, T(0.5), ConstMatView<T>(XDDX.view()),
                     ConstMatView<T>(E.view()), T(0), half.view());
            auto C = be_.template matrix<T>(k, k);
            be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(WX.view()),
                     ConstMatView<T>(E.view()), T(0), C.view());
            be_.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(E.view()),
                     ConstMatView<T>(half.view()), T(1), C.view());
            out.gram = transposed(be_, ConstMatView<T>(C.view()));
            be_.add_scaled(ConstMatView<T>(C.view()), T(1), out.gram.view());
            be_.add_scaled(ConstMatView<T>(w.gram.view()), T(1), out.gram.view());
            return out;
        }
        // Materialize: We' = We K' + D X G2, K = I (transposed: K'^T We^T + (D X G2)^T)
        out.replace = true;
        out.materialized = true;
        out.WeT = be_.template matrix<T>(k, w.N);
        be_.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(out.K.view()), w.used(), T(0),
                 out.WeT.view());
        if (p > 0) {
            auto XG2T = be_.template matrix<T>(k, r);  // (X G2)^T
            be_.gemm(Trans::Yes, Trans::Yes, T(1), G2, X, T(0), XG2T.view());
            auto addT = be_.template matrix<T>(k, nJ);
            apply_rows(be_, *D.Dt, Trans::Yes, ConstMatView<T>(XG2T.view()), addT.view());
            if (all) {
                be_.add_scaled(ConstMatView<T>(addT.view()), T(1), out.WeT.view());
            } else {
                be_.scatter_add_cols(ConstMatView<T>(addT.view()), D.J, out.WeT.view());
            }
        }
        out.K = identity<Backend, T>(be_, k);
        out.gram = gram_of_rows(ConstMatView<T>(out.WeT.view()));
        return out;
    }

    // New state of the side that gets r rows appended: W' = [[W F1], [F2]].
    Pending extend(Side& w, ConstMatView<T> F) {
        const index_t k = rank(), r = F.rows - k;
        const ConstMatView<T> F1 = F.rows_range(0, k), F2 = F.rows_range(k, r);
        Pending out;
        out.grow = r;
        out.K = be_.template matrix<T>(k, k);
        be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(w.K.view()), F1, T(0),
                 out.K.view());
        const auto Kinv =
            sparse() ? inverse_if_well_conditioned(out.K.view()) : std::optional<Matrix>();
        if (Kinv) {
            // new rows F2 K'^-1 (as columns of WeT: K'^-T F2^T), written to spare capacity
            // (unused columns: the state is intact)
            MatView<T> dest;
            if (w.WeT.cols() >= w.N + r) {
                dest = w.WeT.view().cols_range(w.N, r);
            } else {
                out.replace = true;  // grow by half: amortized O(k) per appended row
                const index_t cap = std::max(w.N + r, w.N + w.N / 2);
                out.WeT = be_.template matrix<T>(k, cap);
                be_.copy(w.used(), out.WeT.view().cols_range(0, w.N));
                dest = out.WeT.view().cols_range(w.N, r);
            }
            be_.gemm(Trans::Yes, Trans::Yes, T(1), ConstMatView<T>(Kinv->view()), F2, T(0),
                     dest);
            out.gram = be_.template matrix<T>(k, k);
            be_.copy(ConstMatView<T>(w.gram.view()), out.gram.view());
            be_.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(dest),
                     ConstMatView<T>(dest), T(1), out.gram.view());
            return out;
        }
        out.replace = true;
        out.materialized = sparse();
        out.WeT = be_.template matrix<T>(k, w.N + r);
        const ConstMatView<T> Kuse = sparse() ? ConstMatView<T>(out.K.view()) : F1;
        be_.gemm(Trans::Yes, Trans::No, T(1), Kuse, w.used(), T(0),
                 out.WeT.view().cols_range(0, w.N));
        be_.transpose(F2, out.WeT.view().cols_range(w.N, r));
        out.K = identity<Backend, T>(be_, k);
        if (sparse()) out.gram = gram_of_rows(ConstMatView<T>(out.WeT.view()));
        return out;
    }

    // grow: the side that gets rows; other: the side that gets the block D.  For columns
    // the roles swap, and M is the transpose of the row case: the same code.
    void append(Side& grow, Side& other, SideBlock<T> D, bool columns) {
        be_.check_interrupt();
        const index_t k = rank(), r = D.Dt->rows();
        const OneThreadIf<Backend> threads(
            be_, flops(other, D) + (sparse() ? 0.0 : 2.0 * grow.N * k * k) < kSmallUpdateFlops);
        auto pr = project(other, D, 2 * stats_.updates + (columns ? 1 : 0));
        // M = [[core, 0], [D^T W, D^T Q]]  ((k + r) x (k + p)); for columns, M is the
        // transpose of the row case: the core enters transposed
        auto M = be_.template matrix<T>(k + r, k + pr.p);
        be_.fill(M.view(), T(0));
        auto core = middle(columns);
        be_.copy(ConstMatView<T>(core.view()), M.view().rows_range(0, k).cols_range(0, k));
        auto low = M.view().rows_range(k, r);
        be_.copy(ConstMatView<T>(pr.CdT.view()), low.cols_range(0, k));
        be_.copy(ConstMatView<T>(pr.RT.view()), low.cols_range(k, pr.p));
        Matrix F, G;
        std::vector<T> sigma;
        small_svd(M.view(), F, sigma, G);
        Pending ng = extend(grow, ConstMatView<T>(F.view()));
        Pending no = rotate(other, pr, D, ConstMatView<T>(G.view()));
        if (columns) {
            finish(std::move(no), std::move(ng), sigma, pr.dropped);
        } else {
            finish(std::move(ng), std::move(no), sigma, pr.dropped);
        }
    }

    // Re-orthonormalize (sparse method, O(k^3); dense methods once in a period), then
    // commit both sides, s and the core.
    void finish(Pending nu, Pending nv, const std::vector<T>& sigma, double dropped) {
        const index_t k = rank();
        std::vector<T> s(sigma.begin(), sigma.begin() + k);
        std::optional<Matrix> core;
        if (sparse()) {
            core = reorthonormalize(nu, nv, s);
        } else if ((stats_.updates + 1) % kFormedReorthonormalizePeriod == 0) {
            core = reorthonormalize_formed(nu, nv, s);
        }
        be_.check_interrupt();  // last point where the update may stop: nothing changed yet
        double discarded = 0;
        for (std::size_t i = static_cast<std::size_t>(k); i < sigma.size(); ++i)
            discarded += double(sigma[i]) * double(sigma[i]);
        stats_.materializations += index_t(nu.materialized) + index_t(nv.materialized);
        commit(u_, std::move(nu));
        commit(v_, std::move(nv));
        s_ = std::move(s);
        core_ = std::move(core);
        stats_.updates += 1;
        stats_.discarded += discarded;
        stats_.dropped += dropped;
    }

    // W^T W = K^T gram K = R^T R (Cholesky; W^T W is I up to the loss of orthogonality, so
    // perfectly conditioned).  Returns (R, R^-1), with R = R^-T (W^T W).
    std::pair<Matrix, Matrix> gram_factor(const Pending& w, const Side& old) const {
        const ConstMatView<T> gram = w.gram.rows() > 0 ? ConstMatView<T>(w.gram.view())
                                                       : ConstMatView<T>(old.gram.view());
        auto G = congruence(ConstMatView<T>(w.K.view()), gram);
        auto f = cholesky_factor(ConstMatView<T>(G.view()));
        require(f.has_value()) << "the tracked factor lost rank; call refresh()";
        return std::move(*f);
    }

    // (R, R^-1) with G = R^T R, or nothing where G is not numerically positive definite.
    std::optional<std::pair<Matrix, Matrix>> cholesky_factor(ConstMatView<T> G) const {
        const index_t k = rank();
        auto Gc = be_.template matrix<T>(k, k);
        be_.copy(G, Gc.view());
        auto Rinv = identity<Backend, T>(be_, k);
        if (!be_.solve_right_cholesky(Gc.view(), Rinv.view())) return std::nullopt;
        auto R = be_.template matrix<T>(k, k);  // R = R^-T G
        be_.gemm(Trans::Yes, Trans::No, T(1), ConstMatView<T>(Rinv.view()), G, T(0), R.view());
        return std::make_pair(std::move(R), std::move(Rinv));
    }

    // The middle factor Ru diag(s) Rv^T of sides turned by Ru^-1 and Rv^-1.
    Matrix turned_middle(ConstMatView<T> Ru, const std::vector<T>& s, ConstMatView<T> Rv) const {
        const index_t k = rank();
        auto RuS = be_.template matrix<T>(k, k), core = be_.template matrix<T>(k, k);
        be_.scale_columns(Ru, s.data(), RuS.view());
        be_.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(RuS.view()), Rv, T(0),
                 core.view());
        return core;
    }

    // K_u <- K_u Ru^-1, K_v <- K_v Rv^-1 (orthonormal sides); returns the middle factor
    // Ru diag(s) Rv^T.
    Matrix reorthonormalize(Pending& nu, Pending& nv, const std::vector<T>& s) const {
        const index_t k = rank();
        auto [Ru, Ru_inv] = gram_factor(nu, u_);
        auto [Rv, Rv_inv] = gram_factor(nv, v_);
        const auto turn = [&](Matrix& K, ConstMatView<T> Rinv) {
            auto out = be_.template matrix<T>(k, k);
            be_.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(K.view()), Rinv, T(0),
                     out.view());
            K = std::move(out);
        };
        turn(nu.K, Ru_inv.view());
        turn(nv.K, Rv_inv.view());
        return turned_middle(Ru.view(), s, Rv.view());
    }

    // The dense methods' sides, formed in full (We = W, K = I): W <- W R^-1 with
    // W^T W = R^T R; returns the middle factor Ru diag(s) Rv^T, or nothing (both sides left
    // as they were) where a side's Gram matrix is not numerically positive definite.
    std::optional<Matrix> reorthonormalize_formed(Pending& nu, Pending& nv,
                                                  const std::vector<T>& s) const {
        const index_t k = rank();
        const auto factor = [&](const Pending& w) {
            const auto G = gram_of_rows(ConstMatView<T>(w.WeT.view()));
            return cholesky_factor(ConstMatView<T>(G.view()));
        };
        auto fu = factor(nu), fv = factor(nv);
        if (!fu || !fv) return std::nullopt;
        const auto turn = [&](Pending& w, ConstMatView<T> Rinv) {  // W^T <- R^-T W^T
            auto out = be_.template matrix<T>(k, w.WeT.cols());
            be_.gemm(Trans::Yes, Trans::No, T(1), Rinv, ConstMatView<T>(w.WeT.view()), T(0),
                     out.view());
            w.WeT = std::move(out);
        };
        turn(nu, fu->second.view());
        turn(nv, fv->second.view());
        return turned_middle(fu->first.view(), s, fv->first.view());
    }

    // The k x k middle factor of A ~ W_u core W_v^T (its transpose where as_transpose):
    // core_, or diag(s) where the sides are exactly the singular vectors.
    Matrix middle(bool as_transpose) const {
        if (!core_) return diag(s_);
        if (as_transpose) return transposed(be_, ConstMatView<T>(core_->view()));
        const index_t k = rank();
        auto out = be_.template matrix<T>(k, k);
        be_.copy(ConstMatView<T>(core_->view()), out.view());
        return out;
    }

    void commit(Side& w, Pending&& p) {
        if (p.replace) {
            w.WeT = std::move(p.WeT);
        } else if (p.DeltaT.cols() > 0) {
            if (p.delta_all) {
                be_.add_scaled(ConstMatView<T>(p.DeltaT.view()), T(1),
                               w.WeT.view().cols_range(0, w.N));
            } else {
                be_.scatter_add_cols(ConstMatView<T>(p.DeltaT.view()), p.J, w.WeT.view());
            }
        }
        w.N += p.grow;
        w.K = std::move(p.K);
        if (p.gram.rows() > 0) w.gram = std::move(p.gram);
    }

    const Backend& be_;
    UpdateOptions o_;
    std::vector<T> s_;
    Side u_, v_;
    std::optional<Matrix> core_;  // sparse method: the middle factor (else diag(s_))
    UpdateStats stats_;
};

}  // namespace rankwise
