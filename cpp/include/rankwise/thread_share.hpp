// OpenMP teams sized to each call's share of the cores when several Python threads call
// rankwise at once.
//
// Each native call runs its loops on an OpenMP team of omp_get_max_threads() threads of the
// calling thread.  N Python threads calling at once would start N full teams on the same
// cores (N x oversubscribed, every team waiting at its barriers for descheduled members).
// While a ThreadShare scope is alive, the calling thread's team size is its share,
// max(1, threads / calls running), and the user's setting comes back when the scope closes.
// A call that started alone keeps its team; later ones get smaller teams, so the total stays
// within twice the cores.  threadpoolctl limits are the `threads` divided here.
//
// Results do not depend on the team size (fixed chunkings of every sum, cpu/tall_skinny.hpp,
// cpu/cg_kernels.cpp), except the transposed sparse product, whose per-thread partial sums
// can change the last bits.
#pragma once

namespace rankwise::cpu {

class ThreadShare {
   public:
    ThreadShare();
    ~ThreadShare();
    ThreadShare(const ThreadShare&) = delete;
    ThreadShare& operator=(const ThreadShare&) = delete;

   private:
    int saved_threads_;
    bool changed_ = false;
};

}  // namespace rankwise::cpu
