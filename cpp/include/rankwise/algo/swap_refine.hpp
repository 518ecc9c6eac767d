// Exchange refinement of a row selection ("swapping" local search for column subset
// selection), the refine=True option of rankwise.cur.
//
// Problem: given the rank-r surrogate B = diag(s) V^T (r x n; V n x r with orthonormal
// columns, s the singular values of a rank-r SVD of A, r ~ 2k) and k selected columns J,
// lower f(J) = ||B - B_J B_J^+ B||_F^2, the error of projecting B on its columns J (a
// stand-in for ||A - C C^+ A||_F; the rows of A likewise, with V the left vectors).
// Method: local search by single exchanges, as in the swaps of Gu & Eisenstat (SISC 1996)
// but on the projection error itself, like the local search for column subset selection of
// Deshpande & Rademacher (FOCS 2010) and Anari, Gharan & Rezaei (COLT 2016): make the swap
// (selected j, unselected i) that lowers f most, while one lowers it by more than
// rtol f + floor, at most max_swaps times.  f never increases.
//
// The gain of every swap in closed form (derivation in rankwise/_selection.py and
// swap_search's contract in cpu_backend.hpp): with B_J = Q T (thin QR), W = T^{-1} Q^T =
// B_J^+ (k x r), w_j = ||W_j||, g_j = ||W_j diag(s)||^2 / w_j^2 (what dropping column j
// costs) and, per candidate i, E_i = B_i - Q Q^T B_i, d_i = ||E_i||^2,
// s_i = ||diag(s) E_i||^2, a_ji = W_j B_i / w_j, p_ji = W_j diag(s^2) E_i / w_j:
//     delta(j, i) = g_j - (s_i + 2 a_ji p_ji + a_ji^2 g_j) / (d_i + a_ji^2).
// Every term needs B_J and the candidate columns only (B B^T = diag(s^2)): four GEMMs of
// L x r x k for L candidates, then one fused pass (swap_search) over the L x k gains.
// Candidates: a full search over all n columns, then searches over a shortlist of the
// `shortlist` candidates with the best swaps in that full search, until the shortlist has
// no improving swap; the refinement stops when a full search has none.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "rankwise/error.hpp"
#include "rankwise/types.hpp"

namespace rankwise {

struct SwapRefineResult {
    std::vector<index_t> rows;  // the refined selection (unswapped positions keep their place)
    index_t swaps = 0;          // exchanges made
    index_t full_searches = 0;  // searches over all n candidates
};

namespace detail {

// Candidates scored per block in best_swap (rows of the candidate workspaces).
constexpr index_t swap_block = 1024;

// The best swap among the candidates `cand` (rows of Bt = V diag(s), n x r) for the
// selection J; false if B_J is numerically rank deficient.  best_per_cand: L entries.
template <class Backend, class T>
bool best_swap(const Backend& be, ConstMatView<T> Bt, const std::vector<T>& s2,
               const std::vector<index_t>& J, const std::vector<index_t>& cand, SwapBest& best,
               std::vector<double>& best_per_cand, double& f) {
    const index_t r = Bt.cols, k = static_cast<index_t>(J.size()),
                  L = static_cast<index_t>(cand.size());
    const double eps = std::numeric_limits<T>::epsilon();
    // Q R = B_J (r x k): Q from the rows J of Bt, transposed, orthonormalized (Householder)
    auto BJ = be.template matrix<T>(k, r);
    be.gather_rows(Bt, J.data(), BJ.view());
    auto Q = be.template matrix<T>(r, k);
    be.transpose(ConstMatView<T>(BJ.view()), Q.view());
    be.orthonormalize(Q.view(), Ortho::Householder);
    // T = Q^T B_J (k x k, upper triangular up to rounding)
    auto Tm = be.template matrix<T>(k, k);
    be.gemm(Trans::Yes, Trans::Yes, T(1), ConstMatView<T>(Q.view()), ConstMatView<T>(BJ.view()),
            T(0), Tm.view());
    const auto Th = be.to_host(Tm.data(), k * k);
    double dmax = 0, dmin = std::numeric_limits<double>::infinity();
    for (index_t j = 0; j < k; ++j) {
        dmax = std::max(dmax, std::abs(double(Th[j + j * k])));
        dmin = std::min(dmin, std::abs(double(Th[j + j * k])));
    }
    if (!(dmin > dmax * eps * double(r))) return false;
    // W = T^{-1} Q^T = B_J^+ (k x r)
    auto W = be.template matrix<T>(k, r);
    be.transpose(ConstMatView<T>(Q.view()), W.view());
    be.solve(Tm.view(), W.view(), "B[:, J]");
    // w_j, g_j and f on the host (k x r and r x k: small)
    const auto Wh = be.to_host(W.data(), k * r);
    const auto Qh = be.to_host(Q.data(), r * k);
    std::vector<T> w(static_cast<std::size_t>(k)), gain(static_cast<std::size_t>(k));
    for (index_t j = 0; j < k; ++j) {
        double ww = 0, ws = 0;
        for (index_t t = 0; t < r; ++t) {
            const double x = Wh[j + t * k];
            ww += x * x;
            ws += x * x * double(s2[t]);
        }
        w[j] = T(std::sqrt(ww));
        gain[j] = T(ws / ww);
    }
    double total = 0, kept = 0;
    for (index_t t = 0; t < r; ++t) {
        total += double(s2[t]);
        for (index_t j = 0; j < k; ++j) kept += double(Qh[t + j * r]) * Qh[t + j * r] * s2[t];
    }
    f = total - kept;
    // What a candidate adds to the span below r eps ||B||_F is rounding noise: the rows of
    // A's empty rows in a sketched basis are about eps ||A|| (a dask CUR swapped such a row
    // in for a real one, its noise direction's gain a ratio of two noise terms)
    const double noise2 = (double(r) * eps) * (double(r) * eps) * total;
    // candidates in blocks of at most swap_block rows (the workspace stays
    // O(swap_block r) however tall B is): Bc = Bt[cand, :] (l x r), G = Bc Q,
    // Et = Bc - G Q^T, At = Bc W^T, sEt = Et diag(s^2), Pt = sEt W^T
    const index_t lb = std::min(L, swap_block);
    auto Bc = be.template matrix<T>(lb, r);
    auto Et = be.template matrix<T>(lb, r);
    auto sEt = be.template matrix<T>(lb, r);
    auto G = be.template matrix<T>(lb, k);
    auto Pt = be.template matrix<T>(lb, k);
    best_per_cand.assign(static_cast<std::size_t>(L), 0.0);
    best = SwapBest{0, 0, std::numeric_limits<double>::infinity()};
    for (index_t c0 = 0; c0 < L; c0 += lb) {
        const index_t l = std::min(lb, L - c0);
        auto bc = Bc.view().rows_range(0, l), et = Et.view().rows_range(0, l),
             set = sEt.view().rows_range(0, l), g = G.view().rows_range(0, l),
             pt = Pt.view().rows_range(0, l);
        be.gather_rows(Bt, cand.data() + c0, bc);
        be.gemm(Trans::No, Trans::No, T(1), ConstMatView<T>(bc), ConstMatView<T>(Q.view()), T(0),
                g);
        be.copy(ConstMatView<T>(bc), et);
        be.gemm(Trans::No, Trans::Yes, T(-1), ConstMatView<T>(g), ConstMatView<T>(Q.view()), T(1),
                et);
        be.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(bc), ConstMatView<T>(W.view()), T(0),
                g);  // g now holds At = Bc W^T
        be.scale_columns(ConstMatView<T>(et), s2.data(), set);
        be.gemm(Trans::No, Trans::Yes, T(1), ConstMatView<T>(set), ConstMatView<T>(W.view()),
                T(0), pt);
        const SwapBest b = be.swap_search(ConstMatView<T>(bc), ConstMatView<T>(et),
                                          ConstMatView<T>(set), ConstMatView<T>(g),
                                          ConstMatView<T>(pt), w.data(), gain.data(), noise2,
                                          best_per_cand.data() + c0);
        // ties as within a block: smallest position, then the earlier candidate
        if (b.delta < best.delta || (b.delta == best.delta && b.position < best.position))
            best = SwapBest{b.position, c0 + b.candidate, b.delta};
    }
    return true;
}

}  // namespace detail

// Refines the rows `start` of V (n x r) for the surrogate diag(s) V^T (s: r host values).
template <class Backend, class T>
SwapRefineResult swap_refine(const Backend& be, ConstMatView<T> V, const std::vector<T>& s,
                             std::vector<index_t> start, index_t shortlist, index_t max_swaps,
                             double rtol) {
    const index_t n = V.rows, r = V.cols, k = static_cast<index_t>(start.size());
    require(static_cast<index_t>(s.size()) == r)
        << "swap_refine: " << s.size() << " singular values for a basis of " << r << " columns";
    require(k >= 1 && k <= r && r <= n)
        << "swap_refine: need 1 <= k <= r <= n; got k = " << k << ", r = " << r << ", n = " << n;
    require(shortlist >= 1 && max_swaps >= 0 && rtol >= 0)
        << "swap_refine: shortlist >= 1, max_swaps >= 0 and rtol >= 0 required";
    std::vector<char> chosen(static_cast<std::size_t>(n), 0);
    for (const index_t i : start) {
        require(i >= 0 && i < n) << "swap_refine: start row " << i << " out of range";
        require(!chosen[i]) << "swap_refine: start row " << i << " repeated";
        chosen[i] = 1;
    }
    // Bt = V diag(s) (n x r)
    auto Bt = be.template matrix<T>(n, r);
    be.scale_columns(V, s.data(), Bt.view());
    std::vector<T> s2(static_cast<std::size_t>(r));
    double total = 0;
    for (index_t t = 0; t < r; ++t) {
        s2[t] = s[t] * s[t];
        total += double(s2[t]);
    }
    // f and the gains are differences of terms up to ||B||_F^2: changes below
    // r eps ||B||_F^2 are rounding noise and never justify a swap
    const double floor_abs = double(r) * std::numeric_limits<T>::epsilon() * total;

    SwapRefineResult out;
    std::vector<index_t> shortl;  // empty: full search
    std::vector<index_t> cand;
    std::vector<double> best_per_cand;
    bool full = true;
    while (out.swaps < max_swaps && k < n) {
        be.check_interrupt();
        cand.clear();
        if (full) {
            for (index_t i = 0; i < n; ++i)
                if (!chosen[i]) cand.push_back(i);
            ++out.full_searches;
        } else {
            for (const index_t i : shortl)
                if (!chosen[i]) cand.push_back(i);
        }
        SwapBest best{};
        double f = 0;
        const bool ok = !cand.empty() &&
                        detail::best_swap(be, ConstMatView<T>(Bt.view()), s2, start, cand, best,
                                          best_per_cand, f);
        if (!ok || !(best.delta < -(rtol * f + floor_abs))) {
            if (full) break;  // no improving swap anywhere (or B_J rank deficient)
            full = true;
            continue;
        }
        if (full && shortlist < static_cast<index_t>(cand.size())) {
            std::vector<index_t> order(cand.size());
            std::iota(order.begin(), order.end(), index_t(0));
            std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
                return best_per_cand[a] < best_per_cand[b];
            });
            shortl.assign(static_cast<std::size_t>(shortlist), 0);
            for (index_t c = 0; c < shortlist; ++c) shortl[c] = cand[order[c]];
            std::sort(shortl.begin(), shortl.end());
            full = false;
        }
        const index_t incoming = cand[best.candidate];
        chosen[start[best.position]] = 0;
        chosen[incoming] = 1;
        start[best.position] = incoming;
        ++out.swaps;
    }
    out.rows = std::move(start);
    return out;
}

struct SwapCandidatesResult {
    bool ok = false;                    // false: B_J numerically rank deficient
    SwapBest best;                      // best swap; candidate = index among the L candidates
    std::vector<double> best_per_cand;  // L entries: each candidate's best delta
    double f = 0;                       // the objective f(J) of the selection
};

// One exchange search of swap_refine with the candidates given as rows: V ((k + L) x r)
// holds the k selected rows of the basis first (in position order), then L candidate rows;
// s as in swap_refine.  The same search (best_swap) as one step of swap_refine, for a
// caller that holds the candidates in pieces: the distributed refinement of
// python/rankwise/_dask.py searches each row block of a dask U with it and reduces the
// blocks' results.
template <class Backend, class T>
SwapCandidatesResult swap_candidates(const Backend& be, ConstMatView<T> V, const std::vector<T>& s,
                                     index_t k) {
    const index_t n = V.rows, r = V.cols;
    require(static_cast<index_t>(s.size()) == r)
        << "swap_candidates: " << s.size() << " singular values for a basis of " << r
        << " columns";
    require(k >= 1 && k <= r && k < n)
        << "swap_candidates: need 1 <= k <= r and a candidate row; got k = " << k
        << ", r = " << r << ", " << n << " rows";
    auto Bt = be.template matrix<T>(n, r);
    be.scale_columns(V, s.data(), Bt.view());
    std::vector<T> s2(static_cast<std::size_t>(r));
    for (index_t t = 0; t < r; ++t) s2[t] = s[t] * s[t];
    std::vector<index_t> J(static_cast<std::size_t>(k)), cand(static_cast<std::size_t>(n - k));
    std::iota(J.begin(), J.end(), index_t(0));
    std::iota(cand.begin(), cand.end(), k);
    SwapCandidatesResult out;
    out.ok = detail::best_swap(be, ConstMatView<T>(Bt.view()), s2, J, cand, out.best,
                               out.best_per_cand, out.f);
    return out;
}

}  // namespace rankwise
