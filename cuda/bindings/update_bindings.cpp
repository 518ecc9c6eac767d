// Bindings of the updating truncated SVD on the device (algo/svd_update.hpp over
// CudaBackend): the state classes DeviceSvdUpdate32 / DeviceSvdUpdate64 of rankwise._cuda,
// used by python/rankwise/_update_gpu.py.  Argument conversion, the GIL and stream order
// only; the algorithm is the CPU's template.
//
// Streams.  The state (the factors We, K and their Gram matrices) lives in memory allocated
// on the stream that was current when the updater started, and all of its work is queued
// there (the backend object is bound to it for the state's life, and frees its memory
// there).  A call made while another CuPy stream is current is ordered after the work
// already queued on that stream, and that stream's later work after the call, by two
// events: the same order as if everything ran on the caller's stream, with no host wait.
// Python keeps the start stream alive as long as the state (stream_owner).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "device_operand.hpp"
#include "rankwise/algo/svd_update.hpp"
#include "rankwise/cuda_backend.hpp"
#include "rankwise/error.hpp"
#include "update_results.hpp"  // cpp/bindings: method names, counters, row checks

namespace rankwise::cuda_bindings {

namespace py = pybind11;

namespace {

using bindings::UpdateRows;

// `after` waits (on the device) for the work queued on `before` so far.
void order(cudaStream_t before, cudaStream_t after) {
    cudaEvent_t event = nullptr;
    cuda::check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
    cudaError_t status = cudaEventRecord(event, before);
    if (status == cudaSuccess) status = cudaStreamWaitEvent(after, event, 0);
    cudaEventDestroy(event);  // released once the recorded work completes
    cuda::check(status, "cudaEventRecord / cudaStreamWaitEvent");
}

// One call's work on the state's stream `own`, ordered within the caller's stream.
class StreamJoin {
   public:
    StreamJoin(cudaStream_t own, cudaStream_t caller) : own_(own), caller_(caller) {
        if (own_ != caller_) order(caller_, own_);
    }
    // The caller's stream waits for this call's work (errors reported).
    void done() {
        if (own_ != caller_) order(own_, caller_);
        finished_ = true;
    }
    // On an exception: the same ordering, best effort (the exception is what is reported).
    ~StreamJoin() {
        if (finished_ || own_ == caller_) return;
        cudaEvent_t event = nullptr;
        if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess) {
            cudaGetLastError();
            return;
        }
        if (cudaEventRecord(event, own_) == cudaSuccess) cudaStreamWaitEvent(caller_, event, 0);
        cudaEventDestroy(event);
        cudaGetLastError();
    }
    StreamJoin(const StreamJoin&) = delete;
    StreamJoin& operator=(const StreamJoin&) = delete;

   private:
    cudaStream_t own_, caller_;
    bool finished_ = false;
};

template <class T>
constexpr bool is_single() {
    return std::is_same<T, float>::value;
}

template <class T>
void require_dtype(const DeviceOperand& D, const char* name) {
    require(D.is_single() == is_single<T>())
        << name << " has dtype " << D.dtype << ", the factors float" << 8 * sizeof(T);
}

template <class T>
class DeviceHandle {
   public:
    // U: m x k column-major (leading dimension ldu); V: n x k column-major (ldv), i.e. Vt
    // (k x n) in C order; s: k values, host.  All copied into the state.
    DeviceHandle(py::object stream_owner, std::uintptr_t stream, std::uintptr_t U, index_t m,
                 index_t ldu, const py::array& s, std::uintptr_t V, index_t n, index_t ldv,
                 const std::string& method, index_t rank, int n_iter, bool krylov,
                 double max_cond, std::uint64_t key0, std::uint64_t key1)
        : owner_(std::move(stream_owner)), device_(current_device()), be_(as_stream(stream)) {
        auto sv = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(s);
        require(sv && sv.ndim() == 1) << "s must be a 1-D array";
        const index_t k = sv.shape(0);
        require(m >= 0 && n >= 0 && ldu >= std::max<index_t>(m, 1) &&
                ldv >= std::max<index_t>(n, 1))
            << "invalid factor shapes";
        UpdateOptions o;
        o.method = bindings::parse_update_method(method);
        o.rank = rank;
        o.n_iter = n_iter;
        o.krylov = krylov;
        o.max_cond = max_cond;
        o.key = philox::Key{key0, key1};
        const ConstMatView<T> Uv{reinterpret_cast<const T*>(U), m, k, ldu};
        const ConstMatView<T> Vv{reinterpret_cast<const T*>(V), n, k, ldv};
        const py::gil_scoped_release nogil;
        const cuda::CallMemoryScope memory(be_.stream());  // synchronizes without the GIL
        st_ = std::make_unique<SvdUpdate<CudaBackend, T>>(be_, Uv, sv.data(), Vv, o);
    }

    void add_rows(const DeviceOperand& E, const std::optional<UpdateRows>& J,
                  std::uintptr_t stream) {
        require_dtype<T>(E, "E");
        run(stream, [&] {
            E.visit<T>(be_, [&](const LinearOp<T>& op) {
                st_->add_rows(SideBlock<T>{&op, bindings::update_rows(J, op.cols(), st_->cols())});
            });
        });
    }

    void add_columns(const DeviceOperand& F, const std::optional<UpdateRows>& J,
                     std::uintptr_t stream) {
        require_dtype<T>(F, "E");
        run(stream, [&] {
            F.visit<T>(be_, [&](const LinearOp<T>& op) {
                st_->add_columns(
                    SideBlock<T>{&op, bindings::update_rows(J, op.cols(), st_->rows())});
            });
        });
    }

    void update(const DeviceOperand& B, const std::optional<UpdateRows>& JB,
                const DeviceOperand& C, const std::optional<UpdateRows>& JC,
                std::uintptr_t stream) {
        require_dtype<T>(B, "B");
        require_dtype<T>(C, "C");
        run(stream, [&] {
            B.visit<T>(be_, [&](const LinearOp<T>& b) {
                C.visit<T>(be_, [&](const LinearOp<T>& c) {
                    st_->update(SideBlock<T>{&b, bindings::update_rows(JB, b.cols(), st_->rows())},
                                SideBlock<T>{&c, bindings::update_rows(JC, c.cols(), st_->cols())});
                });
            });
        });
    }

    // (U buffer, s, V buffer, U's shape, Vt's shape): U m x k in Fortran order, V n x k in
    // Fortran order = Vt (k x n) in C order.
    py::tuple factors(std::uintptr_t stream) const {
        typename SvdUpdate<CudaBackend, T>::Factors f;
        run(stream, [&] { f = st_->factors(); });
        const index_t k = st_->rank(), m = f.U.rows(), n = f.V.rows();
        py::array_t<T> s(static_cast<py::ssize_t>(k));
        std::copy(f.s.begin(), f.s.end(), s.mutable_data());
        return py::make_tuple(to_python(std::move(f.U)), s, to_python(std::move(f.V)),
                              py::make_tuple(m, k), py::make_tuple(k, n));
    }

    void set_method(const std::string& method, index_t rank) {
        st_->set_method(bindings::parse_update_method(method), rank);
    }

    py::tuple gram_deviation(std::uintptr_t stream) const {
        std::pair<double, double> out;
        run(stream, [&] { out = st_->gram_deviation(); });
        return py::make_tuple(out.first, out.second);
    }

    double orthogonality(bool left, std::uintptr_t stream) const {
        double out = 0;
        run(stream, [&] { out = st_->orthogonality(left); });
        return out;
    }

    py::tuple drift(const DeviceOperand& A, std::uintptr_t stream, double s_scale) const {
        require_dtype<T>(A, "A");
        DriftSquares out;
        run(stream, [&] {
            out = A.visit<T>(be_,
                             [&](const LinearOp<T>& op) { return st_->drift(op, s_scale); });
        });
        return py::make_tuple(out.err2, out.best2, out.fro2);
    }

    double largest_value() const { return st_->largest_value(); }
    py::dict stats() const { return bindings::update_stats_dict(st_->stats()); }
    void restore_stats(index_t updates, index_t materializations, double discarded,
                       double dropped) {
        st_->restore_stats(UpdateStats{updates, materializations, discarded, dropped});
    }
    py::tuple shape() const { return py::make_tuple(st_->rows(), st_->cols()); }

   private:
    // fn() without the GIL, on the state's stream, ordered within the caller's `stream`.
    template <class Fn>
    void run(std::uintptr_t stream, Fn&& fn) const {
        const int device = current_device();
        require(device == device_) << "the updater's factors are on CUDA device " << device_
                                   << ", the current device is " << device
                                   << ": call it inside cupy.cuda.Device(" << device_ << ")";
        const py::gil_scoped_release nogil;
        const cuda::CallMemoryScope memory(be_.stream());  // synchronizes without the GIL
        StreamJoin join(be_.stream(), as_stream(stream));
        fn();
        join.done();
    }

    static int current_device() {
        int device = 0;
        cuda::check(cudaGetDevice(&device), "cudaGetDevice");
        return device;
    }

    py::object owner_;  // the CuPy stream of be_: destroyed after the state's memory is freed
    int device_;        // where the state lives (its memory, stream and library handles)
    CudaBackend be_;    // referenced by st_ for its whole life
    std::unique_ptr<SvdUpdate<CudaBackend, T>> st_;
};

template <class T>
void register_handle(py::module_& m, const char* name) {
    py::class_<DeviceHandle<T>>(m, name)
        .def(py::init<py::object, std::uintptr_t, std::uintptr_t, index_t, index_t,
                      const py::array&, std::uintptr_t, index_t, index_t, const std::string&,
                      index_t, int, bool, double, std::uint64_t, std::uint64_t>(),
             py::arg("stream_owner"), py::arg("stream"), py::arg("U"), py::arg("m"),
             py::arg("ldu"), py::arg("s"), py::arg("V"), py::arg("n"), py::arg("ldv"),
             py::arg("method"), py::arg("rank"), py::arg("n_iter"), py::arg("krylov"),
             py::arg("max_cond"), py::arg("key0"), py::arg("key1"))
        .def("add_rows", &DeviceHandle<T>::add_rows, py::arg("E"), py::arg("J"),
             py::arg("stream"))
        .def("add_columns", &DeviceHandle<T>::add_columns, py::arg("F"), py::arg("J"),
             py::arg("stream"))
        .def("update", &DeviceHandle<T>::update, py::arg("B"), py::arg("JB"), py::arg("C"),
             py::arg("JC"), py::arg("stream"))
        .def("factors", &DeviceHandle<T>::factors, py::arg("stream"))
        .def("set_method", &DeviceHandle<T>::set_method, py::arg("method"), py::arg("rank"))
        .def("gram_deviation", &DeviceHandle<T>::gram_deviation, py::arg("stream"))
        .def("orthogonality", &DeviceHandle<T>::orthogonality, py::arg("left"),
             py::arg("stream"))
        .def("drift", &DeviceHandle<T>::drift, py::arg("A"), py::arg("stream"),
             py::arg("s_scale") = 1.0)
        .def_property_readonly("largest_value", &DeviceHandle<T>::largest_value)
        .def_property_readonly("stats", &DeviceHandle<T>::stats)
        .def("restore_stats", &DeviceHandle<T>::restore_stats, py::arg("updates"),
             py::arg("materializations"), py::arg("discarded"), py::arg("dropped"))
        .def_property_readonly("shape", &DeviceHandle<T>::shape);
}

}  // namespace

void register_update(py::module_& m) {
    register_handle<float>(m, "DeviceSvdUpdate32");
    register_handle<double>(m, "DeviceSvdUpdate64");
}

}  // namespace rankwise::cuda_bindings
