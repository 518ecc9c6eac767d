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

}  // namespace rankwise::cpu
