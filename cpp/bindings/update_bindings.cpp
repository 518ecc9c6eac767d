// Bindings of the updating truncated SVD (algo/svd_update.hpp): the state classes
// SvdUpdate32 / SvdUpdate64.  Argument conversion and the GIL only; no algorithm logic.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert.hpp"
#include "families.hpp"
#include "native_call.hpp"
#include "operator_handle.hpp"
#include "update_results.hpp"
#include "rankwise/algo/svd_update.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"

namespace rankwise::bindings {

namespace {

using Rows = UpdateRows;

template <class T>
const LinearOp<T>& op_of(const OperatorHandle& h);
template <>
const LinearOp<float>& op_of<float>(const OperatorHandle& h) {
    require(h.is_single()) << "update has dtype float64, the factors float32";
    return h.f32();
}
template <>
const LinearOp<double>& op_of<double>(const OperatorHandle& h) {
    require(!h.is_single()) << "update has dtype float32, the factors float64";
    return h.f64();
}

// A block: the operator D(J, :)^T and its rows J of the side (None: all `n_side` rows).
template <class T>
SideBlock<T> block(const OperatorHandle& h, const std::optional<Rows>& J, index_t n_side) {
    SideBlock<T> b;
    b.Dt = &op_of<T>(h);
    b.J = update_rows(J, b.Dt->cols(), n_side);
    return b;
}

// The factor F held by X (X = F, or X = F^T where `holds_transpose`) as the updater reads
// it: in place when X is C- or F-ordered with dtype T (numpy's C order is F^T column-major
// for X = F), else from a C-ordered copy kept in `hold`.
template <class T>
FactorIn<T> factor_in(const py::array& X, bool holds_transpose, py::array& hold) {
    const bool fortran = py::isinstance<py::array_t<T, py::array::f_style>>(X) &&
                         !py::isinstance<py::array_t<T, py::array::c_style>>(X);
    if (fortran) {
        hold = X;
    } else {
        hold = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(X);
        require(bool(hold)) << "the factors must be real arrays";
    }
    const index_t r = hold.shape(0), c = hold.shape(1);
    const auto* data = static_cast<const T*>(hold.data());
    // column-major view of X (F order) or of X^T (C order)
    const ConstMatView<T> M = fortran ? ConstMatView<T>{data, r, c, std::max<index_t>(r, 1)}
                                      : ConstMatView<T>{data, c, r, std::max<index_t>(c, 1)};
    // the view holds F^T when exactly one of (C order, X = F^T) transposes
    return FactorIn<T>{M, fortran == holds_transpose};
}

template <class T>
class Handle {
   public:
    Handle(const py::array& U, const py::array& s, const py::array& Vt, const std::string& method,
           index_t rank, int n_iter, bool krylov, double max_cond, std::uint64_t key0,
           std::uint64_t key1) {
        auto sv = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(s);
        require(sv && sv.ndim() == 1 && U.ndim() == 2 && Vt.ndim() == 2)
            << "U, s, Vt must be 2-D, 1-D, 2-D arrays";
        const index_t k = sv.shape(0);
        require(U.shape(1) == k && Vt.shape(0) == k) << "U, s, Vt ranks differ";
        py::array hold_u, hold_v;
        const FactorIn<T> Uin = factor_in<T>(U, false, hold_u);
        const FactorIn<T> Vin = factor_in<T>(Vt, true, hold_v);
        UpdateOptions o;
        o.method = parse_update_method(method);
        o.rank = rank;
        o.n_iter = n_iter;
        o.krylov = krylov;
        o.max_cond = max_cond;
        o.key = make_key(key0, key1);
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;  // rankwise/blas_threads.hpp
        st_ = std::make_unique<SvdUpdate<CpuBackend, T>>(cpu(), Uin, sv.data(), Vin, o);
    }

    void add_rows(const OperatorHandle& E, const std::optional<Rows>& J) {
        const auto b = block<T>(E, J, st_->cols());
        run([&] { st_->add_rows(b); });
    }
    void add_columns(const OperatorHandle& F, const std::optional<Rows>& J) {
        const auto b = block<T>(F, J, st_->rows());
        run([&] { st_->add_columns(b); });
    }
    void update(const OperatorHandle& B, const std::optional<Rows>& JB, const OperatorHandle& C,
                const std::optional<Rows>& JC) {
        const auto bb = block<T>(B, JB, st_->rows());
        const auto bc = block<T>(C, JC, st_->cols());
        run([&] { st_->update(bb, bc); });
    }

    py::tuple factors() const {
        typename SvdUpdate<CpuBackend, T>::Factors f;
        {
            const NativeCall native;
            const cpu::SerialBlas blas_on_our_threads;
            f = st_->factors();
        }
        py::array_t<T> s(static_cast<py::ssize_t>(f.s.size()));
        std::copy(f.s.begin(), f.s.end(), s.mutable_data());
        return py::make_tuple(to_numpy(std::move(f.U), false), s, to_numpy(std::move(f.V), true));
    }

    void set_method(const std::string& method, index_t rank) {
        st_->set_method(parse_update_method(method), rank);
    }

    py::tuple gram_deviation() const {
        std::pair<double, double> out;
        {
            const NativeCall native;
            out = st_->gram_deviation();
        }
        return py::make_tuple(out.first, out.second);
    }

    double orthogonality(bool left) const {
        const NativeCall native;
        return st_->orthogonality(left);
    }

    py::tuple drift(const OperatorHandle& A, double s_scale) const {
        const auto& op = op_of<T>(A);
        DriftSquares out;
        {
            const NativeCall native;
            const cpu::SerialBlas blas_on_our_threads;
            out = st_->drift(op, s_scale);
        }
        return py::make_tuple(out.err2, out.best2, out.fro2);
    }

    double largest_value() const { return st_->largest_value(); }
    py::dict stats() const { return update_stats_dict(st_->stats()); }
    void restore_stats(index_t updates, index_t materializations, double discarded,
                       double dropped) {
        st_->restore_stats(UpdateStats{updates, materializations, discarded, dropped});
    }
    py::tuple shape() const { return py::make_tuple(st_->rows(), st_->cols()); }

   private:
    template <class Fn>
    void run(Fn&& fn) {
        const NativeCall native;
        const cpu::SerialBlas blas_on_our_threads;
        fn();
    }
    std::unique_ptr<SvdUpdate<CpuBackend, T>> st_;
};

// numpy.unique(indices, return_inverse=True) for column indices in [0, n): (J, int64,
// ascending; the position of each index in J, in the indices' dtype).  A marker array of n
// entries where n is at most 32 times the number of indices (O(n + nnz)), else a sort of the
// indices (O(nnz log nnz)): one native call instead of numpy's several, for the update
// blocks' touched rows.
template <class I>
py::tuple distinct_columns_of(const py::array& raw, index_t n) {
    const auto indices = py::array_t<I, py::array::c_style>::ensure(raw);
    require(indices && indices.ndim() == 1) << "indices must be a 1-D integer array";
    const I* idx = indices.data();
    const auto nnz = static_cast<std::size_t>(indices.size());
    for (std::size_t p = 0; p < nnz; ++p)
        require(idx[p] >= 0 && static_cast<index_t>(idx[p]) < n)
            << "column index " << idx[p] << " outside [0, " << n << ")";
    std::vector<std::int64_t> J;
    py::array_t<I> position(static_cast<py::ssize_t>(nnz));
    I* out = position.mutable_data();
    if (static_cast<double>(n) <= 32.0 * static_cast<double>(nnz)) {
        std::vector<I> rank(static_cast<std::size_t>(n), I(-1));
        for (std::size_t p = 0; p < nnz; ++p) rank[static_cast<std::size_t>(idx[p])] = I(0);
        for (index_t j = 0; j < n; ++j) {
            if (rank[static_cast<std::size_t>(j)] < 0) continue;
            rank[static_cast<std::size_t>(j)] = static_cast<I>(J.size());
            J.push_back(j);
        }
        for (std::size_t p = 0; p < nnz; ++p) out[p] = rank[static_cast<std::size_t>(idx[p])];
    } else {
        std::vector<I> sorted(idx, idx + nnz);
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        J.assign(sorted.begin(), sorted.end());
        for (std::size_t p = 0; p < nnz; ++p)
            out[p] = static_cast<I>(std::lower_bound(sorted.begin(), sorted.end(), idx[p]) -
                                    sorted.begin());
    }
    py::array_t<std::int64_t> Jout(static_cast<py::ssize_t>(J.size()));
    std::copy(J.begin(), J.end(), Jout.mutable_data());
    return py::make_tuple(Jout, position);
}

template <class T>
void register_handle(py::module_& m, const char* name) {
    py::class_<Handle<T>>(m, name)
        .def(py::init<const py::array&, const py::array&, const py::array&, const std::string&,
                      index_t, int, bool, double, std::uint64_t, std::uint64_t>(),
             py::arg("U"), py::arg("s"), py::arg("Vt"), py::arg("method"), py::arg("rank"),
             py::arg("n_iter"), py::arg("krylov"), py::arg("max_cond"), py::arg("key0"),
             py::arg("key1"))
        .def("add_rows", &Handle<T>::add_rows, py::arg("E"), py::arg("J"))
        .def("add_columns", &Handle<T>::add_columns, py::arg("F"), py::arg("J"))
        .def("update", &Handle<T>::update, py::arg("B"), py::arg("JB"), py::arg("C"),
             py::arg("JC"))
        .def("factors", &Handle<T>::factors)
        .def("set_method", &Handle<T>::set_method, py::arg("method"), py::arg("rank"))
        .def("gram_deviation", &Handle<T>::gram_deviation)
        .def("orthogonality", &Handle<T>::orthogonality, py::arg("left"))
        .def("drift", &Handle<T>::drift, py::arg("A"), py::arg("s_scale") = 1.0)
        .def("restore_stats", &Handle<T>::restore_stats, py::arg("updates"),
             py::arg("materializations"), py::arg("discarded"), py::arg("dropped"))
        .def_property_readonly("largest_value", &Handle<T>::largest_value)
        .def_property_readonly("stats", &Handle<T>::stats)
        .def_property_readonly("shape", &Handle<T>::shape);
}

}  // namespace

void register_update(py::module_& m) {
    register_handle<float>(m, "SvdUpdate32");
    register_handle<double>(m, "SvdUpdate64");
    m.def(
        "distinct_columns",
        [](const py::array& indices, index_t n) {
            require(n >= 0) << "negative column count " << n;
            if (py::array_t<std::int32_t>::check_(indices))
                return distinct_columns_of<std::int32_t>(indices, n);
            require(py::array_t<std::int64_t>::check_(indices))
                << "indices must be int32 or int64";
            return distinct_columns_of<std::int64_t>(indices, n);
        },
        py::arg("indices"), py::arg("n"),
        "numpy.unique(indices, return_inverse=True) for column indices in [0, n).");
}

}  // namespace rankwise::bindings
