// Kernels that the distributed layer (python/rankwise/_dask.py) runs on each chunk of a dask
// array: a product of one chunk with a block of vectors, and the Philox sketch, so that a
// dask computation draws exactly the sketch of the in-memory one for the same seed.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>

#include "convert.hpp"
#include "families.hpp"
#include "native_call.hpp"
#include "operator_handle.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"

namespace rankwise::bindings {

namespace {

template <class T>
py::array apply_to_block(const LinearOp<T>& A, const py::array& X, bool transpose) {
    auto x = py::array_t<T, py::array::f_style | py::array::forcecast>::ensure(X);
    require(x && x.ndim() == 2) << "X must be a 2-D array";
    const index_t in = transpose ? A.rows() : A.cols(), out = transpose ? A.cols() : A.rows();
    require(x.shape(0) == in) << "X has " << x.shape(0) << " rows; the product needs " << in;
    const index_t l = x.shape(1);
    HostMatrix<T> Y(out, l);
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        A.apply(transpose ? Trans::Yes : Trans::No,
                ConstMatView<T>{x.data(), in, l, std::max<index_t>(in, 1)}, Y.view());
    }
    return to_numpy(std::move(Y), false);
}

// Products of a tall block Y (r x l) with small matrices, by the backend's products (the BLAS
// single-threaded in row chunks on the core's threads: numpy's multithreaded BLAS on such
// skinny products stalls whenever a core is busy elsewhere).
template <class T>
ConstMatView<T> tall_view(const py::array_t<T, py::array::f_style>& y) {
    return {y.data(), y.shape(0), y.shape(1), std::max<index_t>(y.shape(0), 1)};
}

template <class T>
py::array_t<T, py::array::f_style> fortran_block(const py::array& Y, const char* name) {
    auto y = py::array_t<T, py::array::f_style | py::array::forcecast>::ensure(Y);
    require(y && y.ndim() == 2) << name << " must be a 2-D array";
    return y;
}

// Y^T Y (l x l) by one syrk (half the flops of a product), the upper triangle mirrored.
// One BLAS call per chunk of A: each dask task runs on one thread.
template <class T>
HostMatrix<T> gram_of(ConstMatView<T> Y) {
    const index_t l = Y.cols;
    require(Y.rows <= std::numeric_limits<int>::max() && l <= std::numeric_limits<int>::max())
        << "a block of " << Y.rows << " x " << l << " is too large for one BLAS call";
    HostMatrix<T> G(l, l);
    lapack::syrk<T>('U', 'T', static_cast<int>(l), static_cast<int>(Y.rows), T(1), Y.data,
                    static_cast<int>(std::max<index_t>(Y.ld, 1)), T(0), G.data(),
                    static_cast<int>(std::max<index_t>(l, 1)));
    for (index_t j = 0; j < l; ++j)
        for (index_t i = j + 1; i < l; ++i) G.data()[i + j * l] = G.data()[j + i * l];
    return G;
}

// Y M (r x c) for a small M (l x c)
template <class T>
HostMatrix<T> times_small(ConstMatView<T> Y, ConstMatView<T> M) {
    HostMatrix<T> Z(Y.rows, M.cols);
    cpu().gemm(Trans::No, Trans::No, T(1), Y, M, T(0), Z.view());
    return Z;
}

// M converted before the native call (which releases the GIL), checked against Y
template <class T>
py::array_t<T, py::array::f_style> small_factor(const py::array& M, index_t inner) {
    auto mm = fortran_block<T>(M, "M");
    require(mm.shape(0) == inner) << "M has " << mm.shape(0) << " rows; Y has " << inner
                                  << " columns";
    return mm;
}

template <class T>
py::array gram(const py::array& Y) {
    auto y = fortran_block<T>(Y, "Y");
    HostMatrix<T> G;
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        G = gram_of(tall_view(y));
    }
    return to_numpy(std::move(G), false);
}

template <class T>
py::array times(const py::array& Y, const py::array& M) {
    auto y = fortran_block<T>(Y, "Y");
    auto mm = small_factor<T>(M, y.shape(1));
    HostMatrix<T> Z;
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;
        Z = times_small(tall_view(y), tall_view(mm));
    }
    return to_numpy(std::move(Z), false);
}

// (Z = Y M, Z^T Z)
template <class T>
py::tuple times_and_gram(const py::array& Y, const py::array& M) {
    auto y = fortran_block<T>(Y, "Y");
    auto mm = small_factor<T>(M, y.shape(1));
    HostMatrix<T> Z, G;
    {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;
        Z = times_small(tall_view(y), tall_view(mm));
        G = gram_of(ConstMatView<T>(Z.view()));
    }
    return py::make_tuple(to_numpy(std::move(Z), false), to_numpy(std::move(G), false));
}

template <class T>
py::array standard_normal(index_t rows, index_t cols, philox::Key key, std::uint64_t stream) {
    HostMatrix<T> X(rows, cols);
    {
        const NativeCall native;
        cpu().fill_normal(X.view(), key, stream);
    }
    return to_numpy(std::move(X), false);
}

}  // namespace

void register_chunk_kernels(py::module_& m) {
    m.def(
        "apply",
        [](const OperatorHandle& op, const py::array& X, bool transpose) {
            return op.is_single() ? apply_to_block(op.f32(), X, transpose)
                                  : apply_to_block(op.f64(), X, transpose);
        },
        py::arg("op"), py::arg("X"), py::arg("transpose"),
        "op(A) @ X with op(A) = A or A^T, X in the operator's dtype (Fortran order result).");
    const auto by_dtype = [](const py::array& Y, auto f32, auto f64) {
        return py::array_t<float>::check_(Y) ? f32() : f64();
    };
    m.def(
        "gram",
        [by_dtype](const py::array& Y) {
            return by_dtype(Y, [&] { return gram<float>(Y); }, [&] { return gram<double>(Y); });
        },
        py::arg("Y"), "Y^T Y by the core's products (Fortran order result).");
    m.def(
        "times",
        [by_dtype](const py::array& Y, const py::array& M) {
            return by_dtype(
                Y, [&] { return times<float>(Y, M); }, [&] { return times<double>(Y, M); });
        },
        py::arg("Y"), py::arg("M"), "Y @ M by the core's products (Fortran order result).");
    m.def(
        "times_and_gram",
        [by_dtype](const py::array& Y, const py::array& M) {
            return by_dtype(
                Y, [&] { return times_and_gram<float>(Y, M); },
                [&] { return times_and_gram<double>(Y, M); });
        },
        py::arg("Y"), py::arg("M"), "(Y @ M, (Y @ M)^T (Y @ M)) by the core's products.");
    m.def(
        "standard_normal",
        [](index_t rows, index_t cols, std::uint64_t key0, std::uint64_t key1,
           std::uint64_t stream, const std::string& dtype) {
            require(rows >= 0 && cols >= 0) << "negative size " << rows << " x " << cols;
            if (dtype == "float32")
                return standard_normal<float>(rows, cols, make_key(key0, key1), stream);
            require(dtype == "float64") << "dtype must be float32 or float64, got " << dtype;
            return standard_normal<double>(rows, cols, make_key(key0, key1), stream);
        },
        py::arg("rows"), py::arg("cols"), py::arg("key0"), py::arg("key1"), py::arg("stream"),
        py::arg("dtype"),
        "The Philox Gaussian block the algorithms draw for (key, stream): entry (i, j) depends "
        "on (key, stream, i + j rows) only.");
}

}  // namespace rankwise::bindings
