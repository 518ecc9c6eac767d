// Scratch arrays that keep their pages between calls on the same thread.
//
// A fresh buffer of a megabyte or more comes from mmap (or from heap pages glibc trimmed),
// and every one of its pages faults when first written.  The updater runs its sparse
// products once per batch: on the benchmark's quick case (4000 nodes, k = 32, batches of
// 200, one thread) 56% of all page faults were the zero-fill of A^T X's row-major
// accumulator (2026-11-26; with host_buffers.cpp, the faults fell from about 1540 to 430 per
// run of 20 updates and the run from 23.7 to 22.2 ms).  The storage below belongs to the
// calling thread and survives the handle, up to kScratchKeepBytes; larger arrays are
// released with their handle, so a single very large product does not pin its memory.
#pragma once

#include <cstddef>
#include <vector>

namespace rankwise::cpu {

inline constexpr std::size_t kScratchKeepBytes = std::size_t(16) << 20;

// Zero: every value 0.  Any: whatever the storage held (for arrays the caller overwrites).
enum class ScratchFill { Zero, Any };

// n values of T in the calling thread's storage for `Slot`.  At most one handle per thread,
// slot and T may be alive at a time (a second would share the first's storage): give each
// simultaneous use its own Slot.
template <class T, int Slot>
class ThreadScratch {
   public:
    explicit ThreadScratch(std::size_t n, ScratchFill fill = ScratchFill::Zero)
        : v_(storage()) {
        if (fill == ScratchFill::Zero) {
            v_.assign(n, T(0));
        } else if (v_.size() < n) {
            v_.resize(n);
        }
    }
    ~ThreadScratch() {
        if (v_.capacity() * sizeof(T) > kScratchKeepBytes) std::vector<T>().swap(v_);
    }
    ThreadScratch(const ThreadScratch&) = delete;
    ThreadScratch& operator=(const ThreadScratch&) = delete;
    T* data() { return v_.data(); }
    const T* data() const { return v_.data(); }

   private:
    static std::vector<T>& storage() {
        thread_local std::vector<T> v;
        return v;
    }
    std::vector<T>& v_;
};

}  // namespace rankwise::cpu
