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

// `setter(n)` sets a BLAS library's thread count and returns the previous one.  `own_blas`:
// the library whose dgemm the CPU backend calls (SciPy's; it replaces the previous one,
// nullptr none); otherwise another library of the process (NumPy's own OpenBLAS), held at
// one thread with it, so that the Python code between native calls leaves no BLAS threads
// spinning on the cores the next native call needs.
void register_blas_threads_setter(ThreadsSetter setter, bool own_blas = true);

// True when the setter of the backend's own BLAS was registered.
bool serial_blas_available();

// While any scope is alive, every registered BLAS runs single-threaded.
class SerialBlas {
   public:
    SerialBlas();
    ~SerialBlas();
    SerialBlas(const SerialBlas&) = delete;
    SerialBlas& operator=(const SerialBlas&) = delete;
};

// While alive, inside the one open SerialBlas scope of a native call, every held BLAS has its
// thread count from before the scope again: a user's code called back from a native loop (a
// LinearOperator's matmat, CG's callback) runs with the user's BLAS settings, as it would
// outside rankwise.  While other scopes are open too (native calls running in other threads
// at the same time), it does nothing: their BLAS calls must stay on one thread.
class UserBlasThreads {
   public:
    UserBlasThreads();
    ~UserBlasThreads();
    UserBlasThreads(const UserBlasThreads&) = delete;
    UserBlasThreads& operator=(const UserBlasThreads&) = delete;

   private:
    bool resumed_ = false;
};

}  // namespace rankwise::cpu
