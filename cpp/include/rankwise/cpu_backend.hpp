// The CPU backend: the primitives every algorithm in algo/ is written against.
//
// A backend provides an owning matrix type and a fixed set of primitives with one contract
// on every backend (the CUDA backend implements the same names in cuda/).  Dense products
// and factorizations go to the BLAS/LAPACK that SciPy itself loaded (see lapack.hpp); the
// project's own loops (sparse products, random fill, reductions) use OpenMP.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "rankwise/philox.hpp"
#include "rankwise/types.hpp"

namespace rankwise {


// Owning column-major matrix in host memory.
template <class T>
class HostMatrix {
   public:
    HostMatrix() = default;
    HostMatrix(index_t rows, index_t cols);
    MatView<T> view() { return {buf_.get(), rows_, cols_, ld()}; }
    ConstMatView<T> view() const { return {buf_.get(), rows_, cols_, ld()}; }
    T* data() { return buf_.get(); }
    // Keeps the first `cols` columns: they are a contiguous prefix of column-major storage.
    void truncate_cols(index_t cols) { cols_ = cols < cols_ ? cols : cols_; }
    index_t rows() const { return rows_; }
    index_t cols() const { return cols_; }
    // Hands the storage to a new owner (the Python array that will wrap it).
    std::unique_ptr<T[]> release() { return std::move(buf_); }

   private:
    index_t ld() const { return rows_ > 0 ? rows_ : 1; }
    std::unique_ptr<T[]> buf_;
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

    // Y = op(A) X for a CSR matrix A, multithreaded; X and Y column-major.
    template <class T, class I>
    void csr_mm(const CsrView<T, I>& A, Trans t, ConstMatView<T> X, MatView<T> Y) const;

    // Host copy of n values held by the backend (identity on the CPU).
    template <class T>
    std::vector<T> to_host(const T* values, index_t n) const {
        return std::vector<T>(values, values + n);
    }

    // Gives the host program a chance to raise KeyboardInterrupt between passes.
    void check_interrupt() const;

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

    // Y(r, :) = X(rows[r], :) for r < Y.rows (rows in host memory, each in [0, X.rows))
    template <class T>
    void gather_rows(ConstMatView<T> X, const index_t* rows, MatView<T> Y) const;

    // B <- A^{-1} B for a square A (destroyed), LU with partial pivoting; throws Error
    // naming `what` if A is exactly singular.
    template <class T>
    void solve(MatView<T> A, MatView<T> B, const char* what) const;
};

// Installed by the bindings: a function that throws if the user pressed Ctrl-C.
void set_interrupt_checker(void (*checker)());

}  // namespace rankwise
