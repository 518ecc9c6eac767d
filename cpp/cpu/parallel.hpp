// When the project's own OpenMP loops are worth a parallel region.
//
// Every parallel region ends in a barrier.  On a machine whose cores are busy with other
// work, one of our threads is often descheduled and the barrier waits a whole scheduler
// time slice for it, so a region that moves a few kilobytes can cost milliseconds.  Small
// kernels therefore run on the calling thread, and the large ones hand out work in chunks
// (schedule(dynamic)) so that a thread that is running takes over from one that is not.
#pragma once

#include "rankwise/types.hpp"

namespace rankwise::cpu {

// Elements (reads + writes) below which a streaming kernel stays on one thread: at about
// 1 ns per element this is tens of microseconds, the cost of waking and joining a team.
inline constexpr index_t kParallelMinElements = index_t{1} << 16;

inline bool worth_parallel(index_t elements) { return elements >= kParallelMinElements; }

// body(i) for i in [0, n): split statically over the team where `parallel`, else a plain
// loop on the calling thread.  (`#pragma omp parallel for if (false)` is not free: libgomp
// still opens a team of one, about 0.3 us and a heap allocation per region, and a sparse
// update of the updating SVD runs ~120 small kernels: 10% of its time at k = 32.)
template <class Body>
void parallel_for(index_t n, bool parallel, Body&& body) {
    if (!parallel) {
        for (index_t i = 0; i < n; ++i) body(i);
        return;
    }
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < n; ++i) body(i);
}

}  // namespace rankwise::cpu
