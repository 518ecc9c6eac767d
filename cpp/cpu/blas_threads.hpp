// Per-thread control of the BLAS's own threading.
//
// Tall-skinny products (m x l blocks with l small) gain little from a multithreaded BLAS:
// each call is a few milliseconds of memory-bound work, and OpenBLAS's threads synchronise
// by spinning, so on a machine whose cores are shared with other work one descheduled BLAS
// thread stalls the call (measured here: a sparse randomized SVD spent 37% of its time in
// OpenBLAS's inner_thread waiting loops and ran 5-10x slower under load).  The CPU backend
// therefore splits such products into row chunks over its own OpenMP threads and has each
// thread call the BLAS single-threaded, through the thread-local setter that OpenBLAS
// (>= 0.3.27, openblas_set_num_threads_local) and MKL (mkl_set_num_threads_local) export.
// Where the BLAS has no such setter, products are left whole to the BLAS.
#pragma once

namespace rankwise::cpu {

using LocalThreadsSetter = int (*)(int);

// `setter(n)` sets the calling thread's BLAS thread count and returns the previous one.
void register_local_blas_threads(LocalThreadsSetter setter);

// True when a setter was registered.
bool serial_blas_available();

// While alive, BLAS calls from this thread run on this thread only.
class SerialBlas {
   public:
    SerialBlas();
    ~SerialBlas();
    SerialBlas(const SerialBlas&) = delete;
    SerialBlas& operator=(const SerialBlas&) = delete;

   private:
    int previous_ = 0;
};

}  // namespace rankwise::cpu
