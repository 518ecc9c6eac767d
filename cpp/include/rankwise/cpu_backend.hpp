// The CPU backend: the primitives every algorithm in algo/ is written against.
//
// A backend provides an owning matrix type and a fixed set of primitives with one contract
// on every backend (the CUDA backend implements the same names in cuda/).  Dense products
// and factorizations go to the BLAS/LAPACK that SciPy itself loaded (see lapack.hpp); the
// project's own loops (sparse products, random fill, reductions) use OpenMP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "rankwise/diagonal_view.hpp"
#include "rankwise/philox.hpp"
#include "rankwise/types.hpp"

namespace rankwise {


namespace detail {
// Work-matrix storage (cpu/host_buffers.cpp): at least `bytes`, 64-byte aligned, its size in
// `capacity`; nullptr when memory is exhausted or `bytes` exceeds host_memory_bytes().
// Buffers given back are kept in a small per-thread cache for the next matrix that fits
// (fresh pages fault on first write).
void* take_host_buffer(std::size_t bytes, std::size_t& capacity);
// The machine's memory and swap in bytes (infinity where the system does not say).
double host_memory_bytes();
void give_host_buffer(void* p, std::size_t capacity) noexcept;

struct HostBufferFree {
    std::size_t capacity = 0;
    void operator()(void* p) const noexcept { give_host_buffer(p, capacity); }
};
}  // namespace detail

// Storage of a HostMatrix, also after it is handed to a numpy array (bindings/convert.hpp).
template <class T>
using HostBuffer = std::unique_ptr<T[], detail::HostBufferFree>;

// Owning column-major matrix in host memory.
template <class T>
class HostMatrix {
   public:
    HostMatrix() = default;
    HostMatrix(index_t rows, index_t cols);
    MatView<T> view() { return {buf_.get(), rows_, cols_, ld()}; }
    ConstMatView<T> view() const { return {buf_.get(), rows_, cols_, ld()}; }
    T* data() { return buf_.get(); }
    const T* data() const { return buf_.get(); }
    // Keeps the first `cols` columns: they are a contiguous prefix of column-major storage.
    void truncate_cols(index_t cols) { cols_ = cols < cols_ ? cols : cols_; }
    index_t rows() const { return rows_; }
    index_t cols() const { return cols_; }
    // Hands the storage to a new owner (the Python array that will wrap it).
    HostBuffer<T> release() { return std::move(buf_); }

   private:
    index_t ld() const { return rows_ > 0 ? rows_ : 1; }
    HostBuffer<T> buf_;
    index_t rows_ = 0, cols_ = 0;
};

class CpuBackend {
   public:
    template <class T>
    using Matrix = HostMatrix<T>;

    template <class T>
    Matrix<T> matrix(index_t rows, index_t cols) const {
        return Matrix<T>(rows, cols);
    }

    // C = alpha op(A) op(B) + beta C
    template <class T>
    void gemm(Trans ta, Trans tb, T alpha, ConstMatView<T> A, ConstMatView<T> B, T beta,
              MatView<T> C) const;

    // Y (m x l, l <= m) replaced by a basis of its range, as `how` says.
    template <class T>
    void orthonormalize(MatView<T> Y, Ortho how) const;

    // Thin SVD of W (m x n, m >= n): W = U diag(s) Vt.  W is destroyed; U is m x n,
    // s has n entries (host memory, descending), Vt is n x n.
    template <class T>
    void svd(MatView<T> W, MatView<T> U, T* s, MatView<T> Vt, SvdDriver driver) const;

    // X filled with independent standard normal deviates: entry (i, j) is a function of
    // (key, stream, i + j * rows) only, so it does not depend on threads or on ld.
    template <class T>
    void fill_normal(MatView<T> X, philox::Key key, std::uint64_t stream) const;

    // Y = X (same shape)
    template <class T>
    void copy(ConstMatView<T> X, MatView<T> Y) const;

    // every entry of X set to `value`
    template <class T>
    void fill(MatView<T> X, T value) const;

    // Y[:, j] = X[:, j] * scale[j] for every column (scale in host memory)
    template <class T>
    void scale_columns(ConstMatView<T> X, const T* scale, MatView<T> Y) const;

    // Y += alpha X (same shape)
    template <class T>
    void add_scaled(ConstMatView<T> X, T alpha, MatView<T> Y) const;

    // out[j] = ||X[:, j]||_2, accumulated in double (out in host memory)
    template <class T>
    void column_norms(ConstMatView<T> X, double* out) const;

    // sum of squares of all entries, accumulated in double
    template <class T>
    double sum_squares(ConstMatView<T> X) const;
    template <class T, class I>
    double sum_squares(const CsrView<T, I>& A) const;
    // Stored entries of a CSR matrix, indptr[rows]
    template <class T, class I>
    index_t csr_entries(const CsrView<T, I>& A) const {
        return A.nnz >= 0 ? A.nnz : static_cast<index_t>(A.indptr[A.rows]);
    }

    // Y = op(A) X for a CSR matrix A, multithreaded; X and Y column-major.
    template <class T, class I>
    void csr_mm(const CsrView<T, I>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const;

    // Y = A (A^T X) for a CSR matrix A (X, Y: A.rows x l), the intermediate never
    // transposed to column-major and back (SparseOp::apply_normal).
    template <class T, class I>
    void csr_normal_mm(const CsrView<T, I>& A, ConstMatView<T> X, MatView<T> Y) const;

    // Y = op(A) X with X and Y row-major, given as the column-major views of their
    // transposes (Xt: l x in, Yt: l x out, both contiguous): the sparse kernels' own layout,
    // so nothing is transposed (SparseOp::apply_rows).
    static constexpr bool kSparseRowMajor = true;
    template <class T, class I>
    void csr_mm_rows(const CsrView<T, I>& A, Trans t, ConstMatView<T> Xt, MatView<T> Yt) const;

    // Host copy of n values held by the backend (identity on the CPU).
    template <class T>
    std::vector<T> to_host(const T* values, index_t n) const {
        return std::vector<T>(values, values + n);
    }

    // Gives the host program a chance to raise KeyboardInterrupt between passes.
    void check_interrupt() const;

    // --- cg primitives (algo/cg.hpp); rows are split statically over the threads, the same
    // way in every kernel, so each thread keeps touching the same part of the vectors.
    // Per-column scalars (alpha, beta, active, outputs) are host arrays of X.cols entries.
    // Reductions sum fixed row chunks in a fixed order: results do not depend on the
    // number of threads.

    // Threads the backend's own loops use when called from this thread; set_threads(k)
    // changes that for this calling thread only (callers restore what max_threads() said).
    int max_threads() const;
    void set_threads(int k) const;

    // Y = alpha X + beta Y (beta = 0: Y is not read); X may be Y.  Unlike copy / add_scaled,
    // small blocks stay on the calling thread (no parallel region to wait for).
    template <class T>
    void axpby(T alpha, ConstMatView<T> X, T beta, MatView<T> Y) const;

    // out[j] = X[:, j] . Y[:, j], accumulated in double
    template <class T>
    void column_dots(ConstMatView<T> X, ConstMatView<T> Y, double* out) const;
    // the same with out in the backend's memory (the CUDA backend's stays on the device)
    template <class T>
    void column_dots_stored(ConstMatView<T> X, ConstMatView<T> Y, double* out) const {
        column_dots(X, Y, out);
    }

    // Y[i, j] = d[i] X[i, j]
    template <class T>
    void scale_rows(const T* d, ConstMatView<T> X, MatView<T> Y) const;

    // For active columns: P[:, j] = z + beta[j] P[:, j], z = d .* Z[:, j] (d given) or Z[:, j]
    // (d plain: a coded one is the CUDA backend's)
    template <class T>
    void cg_update_p(const T* beta, DiagonalView<T> d, ConstMatView<T> Z, MatView<T> P,
                     const std::uint8_t* active) const;

    // CG's step along P (algo/cg.hpp): pq holds the columns' p.q in the backend's memory
    // (here the host's, as everything), rho their r.z on the host.  For the active columns
    // whose p.q is positive and finite: alpha = T(rho[j] / pq[j]), X[:, j] += alpha P[:, j],
    // R[:, j] -= alpha Q[:, j], rr[j] = ||R[:, j]||^2 and, if d is given, rz[j] =
    // R[:, j] . (d .* R[:, j]) (in double); the other columns are left as they are.
    // pq_host[j] = pq[j] for every column (the CUDA backend brings them back with rr and rz
    // in one sync).
    template <class T>
    void cg_update_xr(const double* rho, const double* pq, ConstMatView<T> P, ConstMatView<T> Q,
                      MatView<T> X, MatView<T> R, DiagonalView<T> d, const std::uint8_t* active,
                      double* pq_host, double* rr, double* rz) const;

    // y = A x for one vector (csr_mm's one-column case), rows split statically
    template <class T, class I>
    void csr_mv(const CsrView<T, I>& A, const T* x, T* y) const;

    // y = A x and *dot = x . y (in double) in one pass, A square (CG's q = A p and p.q)
    template <class T, class I>
    void csr_mv_dot(const CsrView<T, I>& A, const T* x, T* y, double* dot) const;

    // Preconditioner kernels.  The CSR matrices here have sorted column indices and no
    // duplicates in each row (canonical form); L arrays have one entry per stored entry of
    // A (same structure), of which those with column <= row are used.  Triangular sweeps
    // are sequential on the CPU.

    // SSOR, Z = omega (2 - omega) (D + omega U)^-1 D (D + omega L)^-1 R for A = L + D + U,
    // given C = omega A D^-1 (A's structure, c_ij = omega a_ij / a_jj; its diagonal is not
    // read), d_inv = 1 / diag(A) and scale = omega (2 - omega):
    // Z = D^-1 (I + C_U)^-1 (I + C_L)^-1 (scale R), C_L / C_U the strict triangles of C.
    template <class T, class I>
    void ssor_apply(const CsrView<T, I>& C, const T* d_inv, T scale, ConstMatView<T> R,
                    MatView<T> Z) const;

    // Zero-fill incomplete Cholesky of A + shift diag(A) into L; false if a pivot is <= 0
    template <class T, class I>
    bool ic0_factor(const CsrView<T, I>& A, double shift, T* L) const;

    // F (2 nnz + n entries) holds L from ic0_factor in its first nnz; rewrites it into the
    // form ic0_apply sweeps over: D^-1 L, L D^-1 and 1 / diag(L), D = diag(L)
    template <class T, class I>
    void ic0_sweep_form(const CsrView<T, I>& A, T* F) const;

    // Z = (L L^T)^-1 R with F from ic0_sweep_form
    template <class T, class I>
    void ic0_apply(const CsrView<T, I>& A, const T* F, ConstMatView<T> R, MatView<T> Z) const;

    // Inverses of the diagonal blocks A[b bs : (b + 1) bs, same] (the last one may be
    // smaller) into F, bs x bs column-major one after the other, each formed from its
    // Cholesky factor as L^-T L^-1; returns -1, or the first block that is not positive
    // definite.
    template <class T, class I>
    index_t block_jacobi_factor(const CsrView<T, I>& A, index_t bs, T* F) const;

    // Z = blockdiag(A)^-1 R with F from block_jacobi_factor
    template <class T>
    void block_jacobi_apply(index_t bs, const T* F, ConstMatView<T> R, MatView<T> Z) const;
    // --- cur primitives (row/column selection: DEIM, Q-DEIM, maxvol; cpp/cpu/selection.cpp)

    // LU with partial pivoting of V (m x k, m >= k), in place: V = P L U.  On exit V holds
    // the unit lower trapezoidal L (m x k, unit diagonal and zeros above it written out),
    // with its rows in pivoted order: row r of L belongs to row perm[r] of the input.
    // Returns perm (host memory, m entries); perm[0..k) are the pivot rows in order.
    template <class T>
    std::vector<index_t> lu_partial_pivoting(MatView<T> V) const;

    // Column-pivoted QR (Businger-Golub, LAPACK geqp3) of W (k x n); W is destroyed.
    // Returns the column order (host memory, n entries, 0-based).
    template <class T>
    std::vector<index_t> qr_column_pivots(MatView<T> W) const;

    // Y = X^T (X: m x n, Y: n x m)
    template <class T>
    void transpose(ConstMatView<T> X, MatView<T> Y) const;

    // B <- B L^{-1} with L (k x k) unit lower triangular (only its strict lower part is read)
    template <class T>
    void solve_right_unit_lower(ConstMatView<T> L, MatView<T> B) const;

    // Position (i, j) of the entry of largest magnitude (the first one in column-major
    // order on ties), and that entry.
    template <class T>
    std::pair<std::pair<index_t, index_t>, T> argmax_abs(ConstMatView<T> X) const;

    // For each column j: the first row of its entry of largest magnitude, and that entry
    // (NaN entries passed over; row 0 and X(0, j) where every entry is NaN).  Host outputs.
    template <class T>
    void column_argmax_abs(ConstMatView<T> X, index_t* rows, T* values) const;

    // Y(r, :) = X(rows[r], :) for r < Y.rows (rows in host memory, each in [0, X.rows))
    template <class T>
    void gather_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const;

    // B <- A^{-1} B for a square A (destroyed), LU with partial pivoting; throws Error
    // naming `what` if A is singular to working precision (a pivot of U below
    // n eps max |u_ii|: the solution would be rounding noise).
    template <class T>
    void solve(MatView<T> A, MatView<T> B, const char* what) const;

    // --- update primitives (updating truncated SVD, algo/svd_update.hpp; cpp/cpu/update.cpp)

    // Y(rows[r], :) += X(r, :) for r < X.rows (rows in host memory, distinct, each in
    // [0, Y.rows)): the rows touched by a sparse update, and no others.
    template <class T>
    void scatter_add_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const;

    // Y(:, c) = X(:, cols[c]), and Y(:, cols[c]) += X(:, c) (cols in host memory, distinct
    // for the scatter): the same for a factor kept row-major, as its transpose.
    template <class T>
    void gather_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const;
    template <class T>
    void scatter_add_cols(ConstMatView<T> X, const index_t* cols, MatView<T> Y) const;
    // G = Wt Wt^T (k x k, both triangles), Wt = W^T of a row-major W (N x k): the Gram
    // matrix W^T W at syrk's rate, the N rows split over the threads.
    template <class T>
    void gram_rows(ConstMatView<T> Wt, MatView<T> G) const;

    // (fill, in the dense block above, is used here too)

    // Y = the Y.rows x Y.cols column-major values (host memory, leading dimension Y.rows)
    template <class T>
    void from_host(const T* values, MatView<T> Y) const;

    // s = the singular values of the square W (descending, host memory; W destroyed), no
    // vectors: a cheaper condition check than svd() (LAPACK gesdd, jobz = 'N')
    template <class T>
    void singular_values(MatView<T> W, T* s) const;

    // The top k singular triplets of M (rows >= cols = n >= k) from the eigendecomposition
    // of M^T M, formed and factored in double (LAPACK syrk + syevd): U (rows x k), V (n x k),
    // s all n singular values, descending (those past k as square roots of the eigenvalues:
    // accurate to about sqrt(n eps) sigma_1).  Squaring M squares its condition number, so
    // this runs only where sigma_1^2 <= max_ratio2 sigma_k^2: the kept values and vectors
    // are then off by about n eps_double max_ratio2 relative (1e-10 at n = 100 and
    // max_ratio2 = 1e4; gesdd: n eps).  Returns false, writing nothing, otherwise.  2-2.5x
    // faster than gesdd on the updater's (k + r) x (k + p) matrices (M is only read).
    template <class T>
    bool top_svd_by_gram(ConstMatView<T> M, index_t k, MatView<T> U, T* s, MatView<T> V,
                         double max_ratio2) const;
    // --- eim primitives (algo/eim.hpp; cpp/cpu/eim_kernels.cpp)

    // One pass over the residual R (n x N) with b = Qb.cols deferred rank-one terms: each
    // entry becomes v = R(i, j) - Cb(0, j) Qb(i, 0) - ... - Cb(b-1, j) Qb(i, b-1), in that
    // order (what b successive rank-one updates give), and for EimNorm::Matrix likewise
    // G(i, j) with MQb = M Qb in place of Qb; err[j] = the norm of the updated column j
    // (Linf: max |v|; L2: ||v||_2; Weighted: sqrt(sum w v^2); Matrix: sqrt(max(0, v . g))),
    // sums accumulated in double.  With write_back the updated values are stored in R (and
    // G); else R and G are only read.  b may be 0.  w: n entries; err: host, N entries.
    // Linf: if bounds is given, it receives the maxima of |v| by row chunk and column, for
    // eim_block_max.
    struct EimBounds {
        std::vector<double> max;   // chunk c, column j at c * N + j: max |v| over the chunk
        std::vector<index_t> base;  // ... after that many of the deferred terms
    };
    template <class T>
    void eim_block_errors(MatView<T> R, MatView<T> G, ConstMatView<T> Qb, ConstMatView<T> MQb,
                          ConstMatView<T> Cb, const T* w, EimNorm norm, bool write_back,
                          double* err, EimBounds* bounds = nullptr) const;

    // The largest |entry| of R - Qb Cb (arithmetic of eim_block_errors) and the first column
    // holding it, without a full pass: the chunk maxima in `bounds` (of R, or of R with the
    // first base terms applied) plus the remaining terms bound every row chunk of every
    // column, and only the chunks whose bound reaches the best value found are evaluated
    // (their exact maxima then replace the bounds' entries).  Returns false, having found
    // nothing, once more than `max_fraction` of the chunks were evaluated with some left
    // (then a full pass is cheaper).
    template <class T>
    bool eim_block_max(ConstMatView<T> R, ConstMatView<T> Qb, ConstMatView<T> Cb,
                       EimBounds& bounds, double max_fraction, double* value,
                       index_t* column) const;

    // r (n x 1) = column j, c (1 x N) = row i of R with the deferred terms Qb, Cb applied
    // (the arithmetic of eim_block_errors); R is not modified.
    template <class T>
    void eim_block_column(ConstMatView<T> R, ConstMatView<T> Qb, ConstMatView<T> Cb, index_t j,
                          MatView<T> r) const;
    template <class T>
    void eim_block_row(ConstMatView<T> R, ConstMatView<T> Qb, ConstMatView<T> Cb, index_t i,
                       MatView<T> c) const;

    // out[j] = sum_i w_i q_i X(i, j) for every column j of X (n x N; w may be null: all
    // ones), products and sums in double, rows summed in order within fixed chunks and the
    // chunks in order (host out, N entries): one read of X.
    template <class T>
    void eim_project(ConstMatView<T> X, const T* q, const T* w, double* out) const;

    // X(rows[r], :) = 0 for r < count (rows in host memory, each in [0, X.rows))
    template <class T>
    void zero_rows(MatView<T> X, const index_t* rows, index_t count) const;

    // X(i, j) = value (one entry written from the host)
    template <class T>
    void set_entry(MatView<T> X, index_t i, index_t j, T value) const;

    // The same with the snapshots stored as rows: Rt (N x n) = R^T and Gt = G^T (a C-order
    // snapshot array seen column-major), so that no transposed copy is needed.
    template <class T>
    void eim_update_errors_rows(MatView<T> Rt, MatView<T> Gt, const T* q, ConstMatView<T> c,
                                const T* Mq, const T* w, EimNorm norm, double* err) const;

    // --- nystrom primitives (algo/nystrom.hpp; cpp/cpu/precond_kernels.cpp)

    // G (l x l, symmetric; its upper triangle is read, G destroyed) = C^T C (Cholesky), then
    // B (m x l) <- B C^-1.  Returns false (B unchanged) if G is not positive definite.
    template <class T>
    bool solve_right_cholesky(MatView<T> G, MatView<T> B) const;

    // --- cur refine primitives (exchange refinement, algo/swap_refine.hpp;
    // cpp/cpu/selection.cpp)

    // Gains of all single exchanges: for candidates i < L (rows of Bc, Et, sEt: L x r, and
    // of At, Pt: L x k) and selected positions j < k, with d_i = ||Et_i||^2,
    // s_i = sEt_i . Et_i and nb_i = ||Bc_i||^2 (in double): if d_i <= max((r eps)^2 nb_i,
    // noise2), the candidate is taken to lie in the selected span (d_i = s_i = 0 and p = 0);
    // a = At(i, j) / w[j], p = Pt(i, j) / w[j], den = d_i + a^2, delta(j, i) = gain[j] -
    // (s_i + 2 a p + a^2 gain[j]) / den if den > max(r eps nb_i, noise2), else gain[j].
    // noise2: the squared norm below which what a candidate adds to the span is rounding
    // noise of B as a whole (a row of an empty row of A, which a sketch leaves at eps ||A||,
    // adds a direction of noise whose gain, a ratio of two noise terms, can look large).
    // best_per_cand[i] = min_j delta(j, i) (host, L entries); returns the smallest delta
    // (ties: smallest j, then smallest i; independent of the thread count).  w, gain:
    // host, k entries.
    template <class T>
    SwapBest swap_search(ConstMatView<T> Bc, ConstMatView<T> Et, ConstMatView<T> sEt,
                         ConstMatView<T> At, ConstMatView<T> Pt, const T* w, const T* gain,
                         double noise2, double* best_per_cand) const;
};

// Installed by the bindings: a function that throws if the user pressed Ctrl-C.
void set_interrupt_checker(void (*checker)());

}  // namespace rankwise
