// The BLAS's own threading, switched off around tall-skinny products.
//
// Tall-skinny products (m x l blocks with l small) gain little from a multithreaded BLAS:
// each call is a few milliseconds of memory-bound work, and OpenBLAS's threads synchronise
// by spinning, so on a machine whose cores are shared with other work one descheduled BLAS
// thread stalls the call (measured here: a sparse randomized SVD spent 37% of its time in
// OpenBLAS's inner_thread waiting loops and ran 5-10x slower under load).  The CPU backend
// therefore splits such products into row chunks over its own OpenMP threads, each chunk a
// single-threaded BLAS call.
//
// The switch is the thread-count setter the BLAS exports next to its dgemm
// (openblas_set_num_threads_local, mkl_set_num_threads_local).  In OpenBLAS's pthreads
// builds (SciPy's wheels) that count is process-wide, not per thread: so it is set once, by
// the thread that opens the first SerialBlas scope, and restored when the last scope in the
// process closes; BLAS calls that other threads of the process make meanwhile also run on
// one thread.  Where the BLAS has no setter, products are left whole to the BLAS.
//
// The entry points of the CPU algorithms (the bindings) hold one scope for the whole
// computation: toggling the count around each product wakes the BLAS's threads, which then
// spin on the cores that the backend's own threads need (measured: 27% of a small dense
// SVD's time in OpenBLAS's blas_thread_server, 19% in libgomp's barrier).  Inside a scope
// every product goes through the backend's chunking (cpu/tall_skinny.hpp), so none runs
// on one thread by accident.
#pragma once

namespace rankwise::cpu {

using ThreadsSetter = int (*)(int);

// `setter(n)` sets the BLAS thread count and returns the previous one.
void register_blas_threads_setter(ThreadsSetter setter);

// True when a setter was registered.
bool serial_blas_available();

// While any scope is alive, the BLAS runs single-threaded.
class SerialBlas {
   public:
    SerialBlas();
    ~SerialBlas();
    SerialBlas(const SerialBlas&) = delete;
    SerialBlas& operator=(const SerialBlas&) = delete;
};

}  // namespace rankwise::cpu
