// rankwise._core: converts arguments, releases the GIL, calls the algorithms, maps errors.
// No algorithm logic lives here; each family registers its functions from its own
// <family>_bindings.cpp (families.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <omp.h>
#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define RANKWISE_HAVE_DLFCN 1
#endif

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "families.hpp"
#include "operator_handle.hpp"
#include "rankwise/blas_threads.hpp"
#include "rankwise/error.hpp"
#include "rankwise/lapack.hpp"
#include "rankwise/philox.hpp"
#include "scipy_lapack.hpp"

namespace py = pybind11;
using namespace rankwise;
using bindings::OperatorHandle;

namespace {

#ifdef RANKWISE_HAVE_DLFCN
// The BLAS library behind the Python extension `module_name` (the one that defines the
// first of `gemms` it uses), and in it the per-thread thread-count setter, if it has one.
// False if the module does not import.
bool register_blas_threads_of(const char* module_name, std::initializer_list<const char*> gemms,
                              bool own_blas) {
    std::string path;
    try {
        path = py::module_::import(module_name).attr("__file__").cast<std::string>();
    } catch (const py::error_already_set&) {
        return false;
    }
    void* module = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (module == nullptr) return true;
    for (const char* gemm : gemms) {
        void* fn = dlsym(module, gemm);
        Dl_info where{};
        if (fn == nullptr || dladdr(fn, &where) == 0 || where.dli_fname == nullptr) continue;
        void* blas = dlopen(where.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (blas == nullptr) continue;
        for (const char* setter : {"openblas_set_num_threads_local",
                                   "scipy_openblas_set_num_threads_local",
                                   "mkl_set_num_threads_local"}) {
            if (void* set = dlsym(blas, setter)) {
                cpu::register_blas_threads_setter(reinterpret_cast<cpu::ThreadsSetter>(set),
                                                  own_blas);
                break;
            }
        }
        dlclose(blas);
        break;
    }
    dlclose(module);
    return true;
}
#endif

// SciPy's BLAS (scipy.linalg.cython_blas: the one the CPU backend calls), then NumPy's own
// (its wheels bundle a second OpenBLAS, whose threads `@` and numpy.linalg wake).
void register_local_blas_threads() {
#ifdef RANKWISE_HAVE_DLFCN
    register_blas_threads_of("scipy.linalg.cython_blas",
                             {"scipy_dgemm_", "dgemm_", "scipy_dgemm_64_", "dgemm_64_"}, true);
    const std::initializer_list<const char*> cblas = {"scipy_cblas_dgemm64_", "cblas_dgemm64_",
                                                      "cblas_dgemm", "scipy_cblas_dgemm"};
    if (!register_blas_threads_of("numpy._core._multiarray_umath", cblas, false))
        register_blas_threads_of("numpy.core._multiarray_umath", cblas, false);  // NumPy 1.x
#endif  // elsewhere products are left whole to the BLAS (rankwise/blas_threads.hpp)
}

// The ident of Python's main thread (threading.main_thread()), set at import.
unsigned long g_main_thread = 0;

// Ctrl-C in the main thread, or a cancelled worker of rankwise._interrupt.run_interruptibly
// (signals reach the main thread only; the worker learns from the flag the main thread set).
// The main thread is never such a worker, so it skips the Python call: a small update
// checks about twenty times, and the call was most of each check's cost.
void check_signals() {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (PyThread_get_thread_ident() == g_main_thread) return;
    // Leaked on purpose: a py::object destroyed at exit would outlive the interpreter.
    static auto* cancelled = new py::object(
        py::module_::import("rankwise._interrupt").attr("raise_if_cancelled"));
    (*cancelled)();
}

// A SerialBlas scope that Python opens and closes (`with _core.serial_blas():`).
struct SerialBlasScope {
    std::optional<cpu::SerialBlas> scope;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "rankwise native core (CPU backend)";
    bindings::register_scipy_lapack();
    register_local_blas_threads();
    g_main_thread =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    set_interrupt_checker(&check_signals);

    py::register_exception<Error>(m, "CoreError", PyExc_ValueError);

    py::class_<OperatorHandle>(m, "Operator")
        .def_static("dense", &OperatorHandle::dense, py::arg("a"))
        .def_static("sparse", &OperatorHandle::sparse, py::arg("data"), py::arg("indices"),
                    py::arg("indptr"), py::arg("rows"), py::arg("cols"), py::arg("transposed"))
        .def_static("symmetric_dense", &OperatorHandle::symmetric_dense, py::arg("a"))
        .def_static("dia", &OperatorHandle::dia, py::arg("data"), py::arg("indices"),
                    py::arg("indptr"), py::arg("n"), py::arg("max_diagonals"), py::arg("max_fill"),
                    py::arg("max_codes"), py::arg("max_plain_bytes"))
        .def_static("callback", &OperatorHandle::callback, py::arg("rows"), py::arg("cols"),
                    py::arg("dtype"), py::arg("matmat"), py::arg("rmatmat"))
        .def_property_readonly(
            "shape", [](const OperatorHandle& h) { return py::make_tuple(h.rows(), h.cols()); })
        .def_property_readonly("dtype", &OperatorHandle::dtype)
        .def_property_readonly("storage", &OperatorHandle::storage);

    bindings::register_svd(m);
    bindings::register_cg(m);
    bindings::register_cur(m);
    bindings::register_chunk_kernels(m);
    bindings::register_update(m);
    bindings::register_eim(m);

    m.def(
        "philox4x64_raw",
        [](std::array<std::uint64_t, 2> key, std::array<std::uint64_t, 4> counter,
           index_t n_blocks) {
            require(n_blocks >= 0) << "n_blocks must be >= 0";
            py::array_t<std::uint64_t> out(4 * n_blocks);
            auto* o = out.mutable_data();
            for (index_t b = 0; b < n_blocks; ++b) {
                const auto r = philox::philox4x64_10(philox::advance(counter, b), key);
                for (int w = 0; w < 4; ++w) o[4 * b + w] = r[w];
            }
            return out;
        },
        py::arg("key"), py::arg("counter"), py::arg("n_blocks"),
        "Raw Philox4x64-10 output for counters counter, counter + 1, ... (4 words each).");

    m.def(
        "csr_structure_problem",
        [](const py::array& indptr, const py::array& indices, index_t minor, index_t nnz_stored) {
            return static_cast<int>(bindings::csr_problem(indptr, indices, minor, nnz_stored));
        },
        py::arg("indptr"), py::arg("indices"), py::arg("minor"), py::arg("nnz_stored"),
        "0 when the CSR structure is sound; 1 indptr not starting at 0 or decreasing, 2 "
        "indptr[-1] beyond the stored entries, 3 an index outside [0, minor).");

    m.def("csr_has_duplicates", &bindings::csr_has_duplicates, py::arg("indptr"),
          py::arg("indices"), py::arg("minor"),
          "Whether a row of the CSR structure (sound, as csr_structure_problem checks) holds an "
          "index twice.");

    m.def("blas_chunked_tall_skinny", &cpu::serial_blas_available,
          "Whether tall-skinny products run as single-threaded BLAS calls on the core's threads.");

    // The BLAS on one thread across Python code too (`with _core.serial_blas(): ...`): a
    // multithreaded BLAS call between two native calls leaves OpenBLAS's threads spinning for
    // their timeout (about 0.1 s), on the cores the next native call's threads need.
    py::class_<SerialBlasScope>(m, "serial_blas")
        .def(py::init<>())
        .def("__enter__", [](SerialBlasScope& s) { s.scope.emplace(); })
        .def("__exit__", [](SerialBlasScope& s, const py::args&) { s.scope.reset(); });

    m.def("openmp_max_threads", [] { return omp_get_max_threads(); },
          "Threads the core's own OpenMP loops use (OMP_NUM_THREADS, threadpoolctl).");
}
